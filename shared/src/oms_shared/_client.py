"""Calling another service over HTTP: timeouts, request id and token passed on,
retries only where a repeat cannot do harm.

A request that never reached the peer (connection refused, connect timeout)
is always retried; one that may have reached it is retried only when the
caller says the call is idempotent (reads are). The peer's envelope errors are
raised again as the same :class:`~oms_shared._errors.OMSError` code, so a 40401
from the product service stays a 40401.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import requests
from flask import g, has_request_context, request
from requests.adapters import HTTPAdapter

from oms_shared import _errors as errors
from oms_shared._settings import Settings

#: A peer's path: segments of letters, digits, ``_`` and ``-`` only (no ``..``, ``?``,
#: ``%``: nothing a caller's id could make into another endpoint).
_PATH = re.compile(r"(/[A-Za-z0-9_-]+)+")

__all__ = ["ServiceClient"]

log = logging.getLogger("oms.client")

def _raise_for(status: int, body: dict[str, Any]) -> None:
    code = body.get("code")
    if not isinstance(code, int) or code == 0:
        raise errors.Unavailable(f"peer answered HTTP {status}")
    raise errors.from_code(code, body.get("message") or None, body.get("data"))


class ServiceClient:
    """One per app; thread-safe enough for gunicorn's threads (a pooled session)."""

    def __init__(self, settings: Settings, *, retries: int = 2) -> None:
        self.settings = settings
        self.retries = retries
        self.http = requests.Session()
        self.http.mount("http://", HTTPAdapter(pool_connections=8, pool_maxsize=32))

    def base_url(self, service: str) -> str:
        url = self.settings.service(service).url
        if not url:
            raise errors.Unavailable(f"{service} service has no url configured")
        return url.rstrip("/")

    def _headers(self, token: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if has_request_context():
            headers["X-Request-ID"] = g.get("oms_request_id", "")
            forwarded = request.headers.get("Token") or request.headers.get("Authorization")
            if token is None and forwarded:
                headers["Authorization" if forwarded.lower().startswith("bearer ") else "Token"] = (
                    forwarded)
        if token is not None:
            headers["Token"] = token
        return headers

    def post(self, service: str, path: str, body: dict[str, Any] | None = None, *,
             token: str | None = None, idempotent: bool = False,
             timeout: float | None = None) -> Any:
        """POST to a peer and return the envelope's ``data``; raise its error."""
        if not _PATH.fullmatch(path):
            # an id from a request made into a path: check it is an id first (str_id)
            raise ValueError(f"not a path of plain segments: {path!r}")
        url = self.base_url(service) + path
        headers = self._headers(token)
        timeout = timeout or self.settings.service_timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.http.post(url, json=body or {}, headers=headers,
                                          timeout=(min(timeout, 2.0), timeout))
                break
            except (requests.ConnectionError, requests.Timeout) as exc:
                never_sent = isinstance(exc, requests.ConnectTimeout) or (
                    isinstance(exc, requests.ConnectionError)
                    and "refused" in str(exc).lower())
                if attempt > self.retries or not (never_sent or idempotent):
                    log.warning("call to %s failed: %s", service, type(exc).__name__)
                    raise errors.Unavailable(f"{service} service is unavailable") from None
                time.sleep(0.05 * attempt)
        try:
            payload = response.json()
        except ValueError:
            raise errors.Unavailable(f"{service} service answered HTTP {response.status_code}"
                                     ) from None
        if response.status_code == 200 and payload.get("code") == 0:
            return payload.get("data")
        _raise_for(response.status_code, payload)
        return None
