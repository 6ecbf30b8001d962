"""Tokens a service signs for itself, to call a peer where no caller's token is there to
pass on (a worker, the broker's checks of a device). They carry the tenant whose data the
call is about, like any token, and the app id ``service:<name>``, which no app can have
(apps are ``oms`` + hex): peers scope them like any caller's."""

from __future__ import annotations

import threading
import time
from typing import Any

from oms_shared._tokens import issue

__all__ = ["service_token"]

TTL_SECONDS = 600
_cache: dict[tuple[str, str], tuple[str, float]] = {}
_lock = threading.Lock()


def service_token(oms: Any, tenant: str) -> str:
    """A token of this service for ``tenant`` (reused until half its life is gone)."""
    app_id = f"service:{oms.service}"
    now = time.time()
    with _lock:
        cached = _cache.get((app_id, tenant))
        if cached is not None and cached[1] > now + TTL_SECONDS / 2:
            return cached[0]
    oms.revocations.publish_generation(app_id, 1, only_if_missing=True)
    generation = oms.revocations.generation(app_id) or 1
    token, claims = issue(secret=oms.settings.jwt.secret.get_secret_value(),
                          issuer=oms.settings.jwt.issuer, app_id=app_id, tenant=tenant,
                          generation=generation, ttl=TTL_SECONDS, now=now)
    with _lock:
        _cache[(app_id, tenant)] = (token, claims.exp)
    return token
