"""Token issuing and the app changes that revoke tokens.

Revocation order: bump the generation in the database (flush), publish it to
Redis, then the caller commits. If the commit fails the published generation
is ahead of the database and old tokens are refused anyway: it fails closed.
Issuing locks the app's row while checking it, so it never signs a generation
that a concurrent revocation has made live for a row it did not see.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from auth_service import apps
from auth_service.models import App
from auth_service.schemas import TokenRead, TokenRequest
from oms_shared import (
    OPERATOR,
    BadSignature,
    OMSState,
    StaleTimestamp,
    UnknownApp,
    encode_token,
)

MS_THRESHOLD = 100_000_000_000  # larger timestamps are epoch milliseconds


def epoch_seconds(timestamp: str) -> float:
    """A validated timestamp (digits) as epoch seconds; large values are milliseconds."""
    number = int(timestamp)
    return number / 1000 if number >= MS_THRESHOLD else float(number)


def expected_sign(app_id: str, timestamp: str, secret: str) -> str:
    return hashlib.md5(f"{app_id}{timestamp}{secret}".encode()).hexdigest()  # noqa: S324


def _read(token: str, exp: int, now: float) -> TokenRead:
    return TokenRead(token=token, expires_in=max(0, int(exp - now)),
                     expires_at=datetime.fromtimestamp(exp, UTC))


def issue_token(*, session: Session, oms: OMSState, request: TokenRequest) -> TokenRead:
    """Check the signed request against the app's row and sign a token for the row's
    generation. The row is locked while it is checked, so a disable or a rotation that
    is being committed either comes first (and is seen) or waits for the token."""
    now = time.time()
    raw_ts, ts = request.timestamp, epoch_seconds(request.timestamp)
    app = apps.get_for_update(session=session, app_id=request.app_id)
    if app is None or not app.enabled:
        raise UnknownApp()
    window = oms.settings.auth.timestamp_window
    if abs(now - ts) > window:
        raise StaleTimestamp(f"timestamp outside the allowed window of ±{window} s")
    if not hmac.compare_digest(expected_sign(app.app_id, raw_ts, app.secret).encode(),
                               request.sign.lower().encode()):
        raise BadSignature()

    store = oms.revocations
    live = store.generation(app.app_id)
    if live is None:  # Redis lost it: restore the row's
        store.publish_generation(app.app_id, app.token_generation, only_if_missing=True)
    elif live > app.token_generation:
        # A revocation published and then failed to commit (none is in flight: we hold
        # the row). Catch the row up, so the token's generation is the row's and live.
        apps.update(session=session, app=app, token_generation=live)
    generation = app.token_generation
    cache_key = oms.keys.issued_token(app.app_id, generation, raw_ts, request.sign.lower())
    cached = oms.redis.get(cache_key)
    if cached is not None:
        entry = json.loads(cached)
        return _read(entry["token"], entry["exp"], now)

    token, claims = encode_token(secret=oms.settings.jwt.secret.get_secret_value(),
                          issuer=oms.settings.jwt.issuer, app_id=app.app_id,
                          tenant=app.tenant, generation=generation,
                          ttl=oms.settings.auth.token_ttl, now=now, scope=app.scope)
    # The same signed request is acceptable until its timestamp leaves the window.
    replayable_for = max(1, min(int(ts + window - now) + 1, claims.exp - int(now)))
    entry = json.dumps({"token": token, "exp": claims.exp})
    if not oms.redis.set(cache_key, entry, nx=True, ex=replayable_for):
        winner = json.loads(oms.redis.get(cache_key) or entry)
        return _read(winner["token"], winner["exp"], now)
    return _read(token, claims.exp, now)


def _revoke(*, session: Session, oms: OMSState, app: App) -> None:
    store = oms.revocations
    app.token_generation = max(app.token_generation, store.generation(app.app_id) or 0) + 1
    session.flush()
    store.publish_generation(app.app_id, app.token_generation)


def set_enabled(*, session: Session, oms: OMSState, app_id: str, enabled: bool) -> App:
    app = apps.get_or_raise(session=session, app_id=app_id)
    apps.update(session=session, app=app, enabled=enabled)
    if not enabled:
        _revoke(session=session, oms=oms, app=app)
    return app


def rotate_secret(*, session: Session, oms: OMSState, app_id: str) -> tuple[App, str]:
    app = apps.get_or_raise(session=session, app_id=app_id)
    secret = apps.new_secret()
    apps.update(session=session, app=app, secret=secret)
    _revoke(session=session, oms=oms, app=app)
    return app, secret


def ensure_default(*, session: Session, tenant: str = "default") -> tuple[App, bool]:
    """The default app, created on the first start: the platform's operator app (the
    schema migration that introduced scopes made an existing one so)."""
    app = apps.get_default(session=session)
    if app is not None:
        return app, False
    return apps.create(session=session, tenant=tenant, name="default", is_default=True,
                       scope=OPERATOR), True
