"""Access tokens: issuing and verifying them.

A token is an HS256 JWT carrying ``iss, sub (app_id), tenant, iat, exp, jti,
gen, scope``. ``gen`` is the app's token generation, which :mod:`oms_shared._revocation`
compares with the live one on every request. ``scope`` is the app's: ``tenant`` (its
tenant's data) or ``operator`` (that, and the platform's own endpoints, ``/pms/system``);
a token without it (issued before scopes existed) is a tenant's.
"""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import dataclass

import jwt

from oms_shared._errors import TokenInvalid

__all__ = ["ALGORITHM", "OPERATOR", "SCOPES", "TENANT", "Claims", "decode", "issue"]

ALGORITHM = "HS256"
_REQUIRED = ["iss", "sub", "exp", "iat", "jti", "tenant", "gen"]
TENANT, OPERATOR = "tenant", "operator"
#: An app's scope: what its tokens may call beyond its tenant's data.
SCOPES = (TENANT, OPERATOR)


@dataclass(frozen=True, slots=True)
class Claims:
    app_id: str
    tenant: str
    jti: str
    gen: int
    iat: int
    exp: int
    scope: str = TENANT


def issue(
    *, secret: str, issuer: str, app_id: str, tenant: str, generation: int, ttl: int,
    now: float | None = None, scope: str = TENANT,
) -> tuple[str, Claims]:
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    issued = int(now if now is not None else time.time())
    claims = Claims(app_id=app_id, tenant=tenant, jti=uuid.uuid4().hex, gen=generation,
                    iat=issued, exp=issued + ttl, scope=scope)
    payload = {"iss": issuer, "sub": app_id, "tenant": tenant, "iat": claims.iat,
               "exp": claims.exp, "jti": claims.jti, "gen": generation, "scope": scope}
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def decode(token: str, *, secret: str, issuer: str) -> Claims:
    """Verify signature, algorithm, expiry and issuer; raise :class:`TokenInvalid`.

    A token verified before is taken from a small in-process cache (its expiry is
    checked again on every use); a token that fails is never cached.
    """
    claims = _verified(token, secret, issuer)
    if claims.exp <= time.time():
        raise TokenInvalid("token expired")
    return claims


@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret: str, issuer: str) -> Claims:
    try:
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=issuer,
                             options={"require": _REQUIRED})
    except jwt.ExpiredSignatureError:
        raise TokenInvalid("token expired") from None
    except jwt.PyJWTError:
        raise TokenInvalid() from None
    scope = payload.get("scope", TENANT)
    if scope not in SCOPES:
        raise TokenInvalid()
    try:
        return Claims(app_id=str(payload["sub"]), tenant=str(payload["tenant"]),
                      jti=str(payload["jti"]), gen=int(payload["gen"]),
                      iat=int(payload["iat"]), exp=int(payload["exp"]), scope=scope)
    except (TypeError, ValueError):
        raise TokenInvalid() from None
