"""The revocation watcher when Redis goes away and comes back (a private Redis)."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import redis

from oms_gateway.stack import free_port
from oms_shared import Keys
from oms_shared._revocation import GenerationWatcher, RevocationStore

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not installed")


def _start(port: int) -> subprocess.Popen:
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    client.close()
    return process


def _wait(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_the_watcher_forgets_while_redis_is_gone_and_resubscribes():
    port = free_port()
    server = _start(port)
    client = redis.Redis(port=port, decode_responses=True, socket_timeout=0.5,
                         socket_connect_timeout=0.5)
    store = RevocationStore(client, Keys("private"))
    watcher = GenerationWatcher(store, retry_after=0.1)
    watcher.start()
    try:
        assert _wait(lambda: watcher.subscribed)
        store.publish_generation("app-1", 4)
        assert _wait(lambda: watcher.get("app-1") == 4)

        server.terminate()
        server.wait()
        assert _wait(lambda: not watcher.subscribed)
        assert watcher.get("app-1") is None  # nothing is trusted while unsubscribed

        server = _start(port)
        assert _wait(lambda: watcher.subscribed, 10)
        assert watcher.get("app-1") is None  # the copy starts empty again
        store.publish_generation("app-1", 5)
        assert _wait(lambda: watcher.get("app-1") == 5)
    finally:
        watcher.stop()
        watcher.join(3)
        server.terminate()
        server.wait()
