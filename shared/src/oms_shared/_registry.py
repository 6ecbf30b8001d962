"""The live service registry in Redis: instances heartbeat, readers judge up/down.

Each service has one Redis hash, ``Keys.registry(service)``, whose fields
are instance addresses and whose values are JSON with ``version``,
``started_at`` and ``last_seen`` (epoch seconds). An instance is ``up`` while its
last heartbeat is younger than ``down_after`` seconds, or until it says it
stopped. Entries silent for a day are dropped by the reader.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import redis

from oms_shared._keys import Keys
from oms_shared._redis_client import UNAVAILABLE, RedisClient
from oms_shared._times import isoformat_ms

__all__ = ["Heartbeat", "Registry"]

log = logging.getLogger("oms.registry")
FORGET_AFTER = 86400.0


def _iso(epoch: float) -> str:
    return isoformat_ms(datetime.fromtimestamp(epoch, UTC))


class Registry:
    def __init__(self, client: RedisClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    def _key(self, service: str) -> str:
        return self.keys.registry(service)

    def beat(self, service: str, address: str, version: str, started_at: float) -> None:
        entry = {"version": version, "started_at": started_at, "last_seen": time.time(),
                 "stopped": False}
        self.client.hset(self._key(service), address, json.dumps(entry))

    def mark_stopped(self, service: str, address: str) -> None:
        raw = self.client.hget(self._key(service), address)
        if raw is None:
            return
        entry = json.loads(raw)
        entry["stopped"] = True
        self.client.hset(self._key(service), address, json.dumps(entry))

    def instances(self, service: str, *, down_after: float) -> list[dict[str, Any]]:
        now = time.time()
        result = []
        for address, raw in sorted(self.client.hgetall(self._key(service)).items()):
            entry = json.loads(raw)
            age = now - entry["last_seen"]
            if age > FORGET_AFTER:
                self.client.hdel(self._key(service), address)
                continue
            up = not entry.get("stopped") and age <= down_after
            result.append({
                "address": address,
                "status": "up" if up else "down",
                "version": entry["version"],
                "started_at": _iso(entry["started_at"]),
                "last_seen": _iso(entry["last_seen"]),
            })
        return result


class Heartbeat(threading.Thread):
    """Background thread of a worker process that keeps its instance ``up``."""

    def __init__(self, registry: Registry, service: str, address: str, version: str,
                 interval: float, started_at: float | None = None) -> None:
        super().__init__(name=f"oms-heartbeat-{service}", daemon=True)
        self.registry = registry
        self.service = service
        self.address = address
        self.version = version
        self.interval = interval
        self.started_at = started_at or time.time()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.registry.beat(self.service, self.address, self.version, self.started_at)
            except (redis.RedisError, *UNAVAILABLE) as exc:
                log.warning("heartbeat failed: %s", type(exc).__name__)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
