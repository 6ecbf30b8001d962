from __future__ import annotations

import json
import time

from oms_shared import Keys
from oms_shared._registry import Heartbeat, Registry


def test_heartbeat_makes_an_instance_up_and_silence_makes_it_down(redis_client, redis_prefix):
    registry = Registry(redis_client, Keys(f"{redis_prefix}:reg1"))
    beat = Heartbeat(registry, "product", "10.0.0.1:8000", "9.9", interval=0.05)
    beat.start()
    time.sleep(0.2)
    [instance] = registry.instances("product", down_after=0.5)
    assert instance["status"] == "up" and instance["version"] == "9.9"
    beat.stop()
    beat.join()
    time.sleep(0.6)
    assert registry.instances("product", down_after=0.5)[0]["status"] == "down"


def test_a_stopped_instance_is_down_at_once(redis_client, redis_prefix):
    registry = Registry(redis_client, Keys(f"{redis_prefix}:reg2"))
    registry.beat("auth", "a:1", "1", time.time())
    registry.mark_stopped("auth", "a:1")
    assert registry.instances("auth", down_after=60)[0]["status"] == "down"


def test_long_silent_instances_are_forgotten(redis_client, redis_prefix):
    keys = Keys(f"{redis_prefix}:reg3")
    registry = Registry(redis_client, keys)
    old = {"version": "1", "started_at": 0, "last_seen": time.time() - 90000, "stopped": False}
    redis_client.hset(keys.registry("user"), "old:1", json.dumps(old))
    assert registry.instances("user", down_after=5) == []
