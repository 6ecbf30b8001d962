"""Each app's request quota: a token bucket per app in Redis, one script per request.

The bucket (``Keys.quota(app_id)``, a hash of ``tokens`` and ``ts``) holds up to
``quota.burst`` tokens and refills at ``quota.rate_per_second``; a request takes one or
is refused with 429/42900 and ``Retry-After``, the whole seconds until a token is there
(at least 1). The script reads the clock of Redis itself (``TIME``), so every instance
of every service fills and drains the same bucket by the same clock. The check runs in
the common library's request path right after the token is verified (``_auth``); calls
between services to ``/internal/`` endpoints, and services' own tokens, are not counted.

A quota must never make the platform unavailable: when Redis cannot answer the check,
the request is let through (fail open), a warning is logged, and for the next
``OPEN_FOR`` seconds the process does not ask again (so an outage costs no extra
timeouts; the request's other uses of Redis answer 503 on their own).
"""

from __future__ import annotations

import logging
import math
import threading
import time

import redis

from oms_shared._errors import RateLimited
from oms_shared._keys import Keys
from oms_shared._redis_client import UNAVAILABLE, RedisClient

__all__ = ["Quota"]

log = logging.getLogger("oms.quota")
OPEN_FOR = 5.0  # seconds without checks after Redis failed one

#: KEYS[1] the bucket; ARGV rate (tokens/s), burst. Returns {taken 1|0, ms to wait}.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(bucket[1])
local ts = tonumber(bucket[2])
if tokens == nil or ts == nil then
  tokens, ts = burst, now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local taken, wait_ms = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
else
  wait_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {taken, wait_ms}
"""


class Quota:
    """``Quota(client, keys, rate=100, burst=200).check(app_id)`` or 429."""

    def __init__(self, client: RedisClient, keys: Keys, *, rate: float, burst: int) -> None:
        self.client = client
        self.keys = keys
        self.rate = rate
        self.burst = burst
        self._script = client.register_script(_TAKE)
        self._skip_until = 0.0
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, app_id: str) -> float | None:
        """Take a token from the app's bucket: None when taken, otherwise the seconds
        until one is there. None as well when Redis cannot answer (fail open)."""
        if not self.enabled or time.monotonic() < self._skip_until:
            return None
        try:
            taken, wait_ms = self._script(keys=[self.keys.quota(app_id)],
                                          args=[repr(float(self.rate)), self.burst])
        except (redis.RedisError, *UNAVAILABLE, OSError) as exc:
            with self._lock:
                if time.monotonic() >= self._skip_until:
                    self._skip_until = time.monotonic() + OPEN_FOR
                    log.warning("quota check failed (%s): requests are let through "
                                "unchecked for %.0f s", type(exc).__name__, OPEN_FOR)
            return None
        return None if int(taken) else int(wait_ms) / 1000

    def check(self, app_id: str) -> None:
        """Raise :class:`RateLimited` (with ``retry_after``) when the app is over its rate."""
        wait = self.take(app_id)
        if wait is not None:
            raise RateLimited(f"rate limited: this app may make {self.rate:g} requests a "
                              f"second (bursts of {self.burst})",
                              retry_after=max(1, math.ceil(wait)))
