"""The Redis connection a service shares between its threads.

``redis.cluster = true`` makes it a :class:`redis.cluster.RedisCluster` (the URL
names any node; the others are discovered). The rest of the library works with
either: every command that touches several keys finds them in one hash slot
(:mod:`oms_shared._keys`).

Retries are redis-py 8's defaults, kept as they were: a single-Redis client retries
a command that lost its connection up to 10 times, with pauses growing from 10 ms to
1 s, so while Redis is down one call takes about 4 s before it raises (the request
then gets 503/50300). A cluster client retries by refreshing its slot map instead and
gives up on a dead node within milliseconds.
"""

from __future__ import annotations

import redis
from redis.cluster import RedisCluster
from redis.exceptions import ClusterDownError, RedisClusterException

from oms_shared._settings import Settings

__all__ = ["UNAVAILABLE", "RedisClient", "connect"]

#: What :func:`connect` returns and what every Redis helper of the library takes.
RedisClient = redis.Redis | RedisCluster
#: What a client raises when Redis cannot be reached. A cluster client adds its own:
#: ``RedisClusterException`` (no node reachable; it is not a ``RedisError``) and
#: ``ClusterDownError``.
UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, ClusterDownError,
               RedisClusterException)


def connect(settings: Settings) -> RedisClient:
    options = {
        "socket_timeout": settings.redis.socket_timeout,
        "socket_connect_timeout": settings.redis.socket_timeout,
        "health_check_interval": 30,
        "decode_responses": True,
    }
    url = settings.redis.url.get_secret_value()
    if settings.redis.cluster:
        return RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)
