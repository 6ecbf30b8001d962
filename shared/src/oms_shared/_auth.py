"""The caller of a request: token check before every non-public endpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, g, request

from oms_shared._errors import Unauthenticated
from oms_shared._tokens import Claims, decode

__all__ = ["authenticate", "current_caller", "current_tenant", "public"]

F = TypeVar("F", bound=Callable)


def public(view: F) -> F:
    """Mark a view as callable without a token."""
    view.oms_public = True  # type: ignore[attr-defined]
    return view


def current_caller() -> Claims:
    caller = g.get("oms_caller")
    if caller is None:
        raise Unauthenticated()
    return caller


def current_tenant() -> str:
    return current_caller().tenant


def _bearer() -> str | None:
    token = request.headers.get("Token")
    if token:
        return token.strip()
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def authenticate() -> None:
    """Check the token of a request to a non-public endpoint; set ``g.oms_caller``."""
    if request.routing_exception is not None or request.url_rule is None:
        return  # let routing answer 404 / 405 first
    view = current_app.view_functions.get(request.url_rule.endpoint)
    if view is None or getattr(view, "oms_public", False):
        return
    token = _bearer()
    if not token:
        raise Unauthenticated()
    state = current_app.extensions["oms"]
    claims = decode(token, secret=state.settings.jwt.secret.get_secret_value(),
                    issuer=state.settings.jwt.issuer)
    state.revocations.check(claims, state.extra.get("revocation_watcher"))
    g.oms_caller = claims

