"""Who may command a device: "is user U bound to device D, and as what?".

The user service owns bindings; the device service asks this on every command
(property set, service invoke). :meth:`BindingCache.role` answers from Redis: a
hash per device and tenant (``user id -> role``), filled on a miss
from the user service's internal endpoint ``/internal/user/bindings/{device_id}``
(one call for all the device's bindings).

Correct across instances without locks: every change (bind, unbind, a removed user
or device) commits first and then calls :meth:`invalidate`, which bumps the device's
version and drops the hash. A reader notes the version before it asks the user
service and fills the hash only if the version is still the same (one script), so
an answer read before a change can never be cached after it. The next reader after a
change refills. Entries expire (``TTL_SECONDS``), which bounds staleness if an
invalidation after a commit ever fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from oms_shared._client import ServiceClient
from oms_shared._keys import Keys
from oms_shared._redis_client import RedisClient

__all__ = ["BindingCache", "Role"]

Role = Literal["owner", "member"]
TTL_SECONDS = 600
VERSION_TTL_SECONDS = 86400
_LOADED = "_"  # a field no user id can be (ids are UUIDs): the hash is never empty
_FILL = """
local current = redis.call('GET', KEYS[2]) or '0'
if current ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
_INVALIDATE = """
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
"""


class BindingCache:
    def __init__(self, client: RedisClient, keys: Keys, peers: ServiceClient) -> None:
        self.client = client
        self.keys = keys
        self.peers = peers

    def role(self, *, tenant: str, user_id: str, device_id: str) -> Role | None:
        """The user's role on the device, or None when not bound (an unknown user or
        device, or another tenant's, is not bound either). Asks the user service, with
        the caller's token passed on, only when the cache has nothing for the device."""
        key, version_key = (self.keys.bindings(tenant, device_id),
                            self.keys.bindings_version(tenant, device_id))
        cached = self.client.hgetall(key)
        if not cached:
            version = self.client.get(version_key) or "0"
            bindings = self.peers.post("user", f"/internal/user/bindings/{device_id}",
                                       idempotent=True)["bindings"]
            cached = {_LOADED: "1", **bindings}
            fields = [item for pair in cached.items() for item in pair]
            self.client.eval(_FILL, 2, key, version_key, version, TTL_SECONDS, *fields)
        role = cached.get(user_id)
        return role if role in ("owner", "member") else None  # type: ignore[return-value]

    def invalidate(self, tenant: str, device_ids: Iterable[str]) -> None:
        """After a commit that changed these devices' bindings: the next reader refills."""
        pipe = self.client.pipeline(transaction=False)
        for device_id in device_ids:
            pipe.eval(_INVALIDATE, 2, self.keys.bindings(tenant, device_id),
                      self.keys.bindings_version(tenant, device_id), VERSION_TTL_SECONDS)
        pipe.execute()
