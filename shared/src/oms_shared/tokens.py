"""Access tokens: issuing, verifying and revoking them.

A token is an HS256 JWT carrying ``iss, sub (app_id), tenant, iat, exp, jti,
gen``. ``gen`` is the app's token generation: disabling an app or rotating its
secret bumps the generation in Redis, and every service compares the token's
``gen`` with it on each request, so all live tokens of the app die at once on
every instance. A single ``jti`` can be revoked too.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt
import redis

from oms_shared.errors import TokenInvalid

__all__ = ["ALGORITHM", "Claims", "RevocationStore", "decode", "issue"]

ALGORITHM = "HS256"
_REQUIRED = ["iss", "sub", "exp", "iat", "jti", "tenant", "gen"]


@dataclass(frozen=True, slots=True)
class Claims:
    app_id: str
    tenant: str
    jti: str
    gen: int
    iat: int
    exp: int


def issue(
    *, secret: str, issuer: str, app_id: str, tenant: str, generation: int, ttl: int,
    now: float | None = None,
) -> tuple[str, Claims]:
    issued = int(now if now is not None else time.time())
    claims = Claims(app_id=app_id, tenant=tenant, jti=uuid.uuid4().hex, gen=generation,
                    iat=issued, exp=issued + ttl)
    payload = {"iss": issuer, "sub": app_id, "tenant": tenant, "iat": claims.iat,
               "exp": claims.exp, "jti": claims.jti, "gen": generation}
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def decode(token: str, *, secret: str, issuer: str) -> Claims:
    """Verify signature, algorithm, expiry and issuer; raise :class:`TokenInvalid`."""
    try:
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=issuer,
                             options={"require": _REQUIRED})
    except jwt.ExpiredSignatureError:
        raise TokenInvalid("token expired") from None
    except jwt.PyJWTError:
        raise TokenInvalid() from None
    try:
        return Claims(app_id=str(payload["sub"]), tenant=str(payload["tenant"]),
                      jti=str(payload["jti"]), gen=int(payload["gen"]),
                      iat=int(payload["iat"]), exp=int(payload["exp"]))
    except (TypeError, ValueError):
        raise TokenInvalid() from None


class RevocationStore:
    """The Redis keys behind revocation, shared by the issuer and the verifiers."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def _gen_key(self, app_id: str) -> str:
        return f"{self.prefix}:auth:gen:{app_id}"

    def _jti_key(self, jti: str) -> str:
        return f"{self.prefix}:auth:revoked:{jti}"

    def publish_generation(self, app_id: str, generation: int, *,
                           only_if_missing: bool = False) -> None:
        """Make ``generation`` the live one; ``only_if_missing`` keeps one already there."""
        self.client.set(self._gen_key(app_id), generation, nx=only_if_missing)

    def revoke_jti(self, jti: str, until: int) -> None:
        ttl = max(1, until - int(time.time()))
        self.client.set(self._jti_key(jti), 1, ex=ttl)

    def check(self, claims: Claims) -> None:
        """Raise :class:`TokenInvalid` unless the token is still live."""
        generation, revoked = self.client.mget(self._gen_key(claims.app_id),
                                               self._jti_key(claims.jti))
        if revoked is not None or generation is None or int(generation) != claims.gen:
            raise TokenInvalid("token revoked")
