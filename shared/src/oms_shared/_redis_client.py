"""The Redis connection a service shares between its threads."""

from __future__ import annotations

import redis

from oms_shared._settings import Settings

__all__ = ["connect"]


def connect(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(
        settings.redis.url.get_secret_value(),
        socket_timeout=settings.redis.socket_timeout,
        socket_connect_timeout=settings.redis.socket_timeout,
        health_check_interval=30,
        decode_responses=True,
    )
