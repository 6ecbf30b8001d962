"""The caller of a request: token check before every non-public endpoint.

In order: the token (signature, claims, expiry), its app's live generation
(revocation), the app's request quota (``oms_shared._quota``: 429 with
``Retry-After``), then the scope the endpoint requires (``requires_scope``, set by
``Api(..., scope=)``: 403/40300 to an app without it). One place for all endpoints:
no view checks a caller itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, g, request

from oms_shared._errors import Forbidden, Unauthenticated
from oms_shared._tokens import SCOPES, Claims, decode

__all__ = ["authenticate", "current_caller", "current_tenant", "public", "requires_scope"]

F = TypeVar("F", bound=Callable)


def public(view: F) -> F:
    """Mark a view as callable without a token."""
    view.oms_public = True  # type: ignore[attr-defined]
    return view


def requires_scope(scope: str) -> Callable[[F], F]:
    """Mark a view as callable only with a token of an app of ``scope`` (``operator``)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def mark(view: F) -> F:
        view.oms_scope = scope  # type: ignore[attr-defined]
        return view

    return mark


def _counted(rule: str, claims: Claims) -> bool:
    """Whether a request counts against its app's quota: not a call between services
    (an ``/internal/`` endpoint, which the gateway never routes, or a service's own
    token, ``service:<name>``)."""
    return not (rule.startswith("/internal/") or claims.app_id.startswith("service:"))


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
    if _counted(request.url_rule.rule, claims):
        state.quota.check(claims.app_id)
    needed = getattr(view, "oms_scope", None)
    if needed is not None and claims.scope != needed:
        raise Forbidden(f"this endpoint is for {needed} apps; this app's scope is "
                        f"{claims.scope}")

