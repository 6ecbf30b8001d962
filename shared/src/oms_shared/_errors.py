"""The one error hierarchy of the OMS.

Every error a client can see is an :class:`OMSError`; the envelope handler
(:mod:`oms_shared._envelope`) turns it into ``{"code", "message", "data",
"request_id"}`` with the matching HTTP status. Codes are those of ``docs/api.md``::

    OMSError
    ├── BadRequest            400 40000  body is not a JSON object
    ├── ValidationFailed      400 40001  data.errors = [{"field", "message"}]
    ├── Unauthenticated       401 40100  no token
    │   ├── TokenInvalid      401 40101  tampered, expired, revoked, wrong key
    │   ├── UnknownApp        401 40110  unknown or disabled app_id
    │   ├── BadSignature      401 40111
    │   └── StaleTimestamp    401 40112  outside the allowed window
    ├── Forbidden             403 40300
    ├── EndpointNotFound      404 40400  no such endpoint
    ├── NotFound              404 40401  no such resource (or another tenant's)
    ├── MethodNotAllowed      405 40500
    ├── Conflict              409 40900  duplicate of a unique field (data.field)
    ├── InvalidState          409 40901  not allowed in the current state
    ├── DeviceOffline         409 40910
    ├── PayloadTooLarge       413 41300
    ├── RateLimited           429 42900  Retry-After: retry_after seconds
    ├── InternalError         500 50000  (never carries a stack trace)
    ├── Unavailable           503 50300  database, Redis, broker or peer down
    └── DeviceTimeout         504 50400
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BadRequest",
    "BadSignature",
    "Conflict",
    "DeviceOffline",
    "DeviceTimeout",
    "EndpointNotFound",
    "FieldError",
    "Forbidden",
    "InternalError",
    "InvalidState",
    "MethodNotAllowed",
    "NotFound",
    "OMSError",
    "PayloadTooLarge",
    "RateLimited",
    "StaleTimestamp",
    "TokenInvalid",
    "Unauthenticated",
    "Unavailable",
    "UnknownApp",
    "ValidationFailed",
    "from_code",
]


class OMSError(Exception):
    """Base of every error the API reports."""

    status: ClassVar[int] = 500
    code: ClassVar[int] = 50000
    default_message: ClassVar[str] = "internal error"
    #: JSON Schema of the envelope's ``data`` for this error (what the OpenAPI document
    #: shows): null unless the class builds something, next to where it builds it.
    data_schema: ClassVar[dict[str, Any]] = {"type": "null"}

    def __init__(self, message: str | None = None, *, data: Any = None) -> None:
        self.message = message or self.default_message
        self.data = data
        super().__init__(self.message)


class BadRequest(OMSError):
    status, code, default_message = 400, 40000, "body is not a JSON object"


FieldError = dict[str, str]


class ValidationFailed(OMSError):
    status, code, default_message = 400, 40001, "validation failed"
    data_schema = {"type": "object", "required": ["errors"], "properties": {"errors": {
        "type": "array", "items": {"type": "object", "required": ["field", "message"],
                                   "properties": {"field": {"type": "string"},
                                                  "message": {"type": "string"}}}}}}

    def __init__(self, errors: list[FieldError], message: str | None = None) -> None:
        self.errors = errors
        if message is None:
            fields = ", ".join(e["field"] for e in errors[:5])
            message = f"validation failed: {fields}" if fields else None
        super().__init__(message, data={"errors": errors})

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls([{"field": field, "message": message}])


class Unauthenticated(OMSError):
    status, code, default_message = 401, 40100, "token required"


class TokenInvalid(Unauthenticated):
    code, default_message = 40101, "token invalid, expired or revoked"


class UnknownApp(Unauthenticated):
    code, default_message = 40110, "unknown or disabled app_id"


class BadSignature(Unauthenticated):
    code, default_message = 40111, "bad signature"


class StaleTimestamp(Unauthenticated):
    code, default_message = 40112, "timestamp outside the allowed window"


class Forbidden(OMSError):
    status, code, default_message = 403, 40300, "not allowed"


class EndpointNotFound(OMSError):
    status, code, default_message = 404, 40400, "no such endpoint"


class NotFound(OMSError):
    status, code, default_message = 404, 40401, "no such resource"

    def __init__(self, resource: str = "resource", ident: object = None) -> None:
        message = f"{resource} not found" if ident is None else f"{resource} {ident} not found"
        super().__init__(message)


class MethodNotAllowed(OMSError):
    status, code, default_message = 405, 40500, "method not allowed; use POST"


class Conflict(OMSError):
    status, code, default_message = 409, 40900, "duplicate value"
    data_schema = {"type": "object", "required": ["field"],
                   "properties": {"field": {"type": "string"}}}

    def __init__(self, field: str, message: str | None = None) -> None:
        super().__init__(message or f"{field} already exists", data={"field": field})


class InvalidState(OMSError):
    status, code, default_message = 409, 40901, "not allowed in the current state"
    #: null, or what the refusal names (a second owner: ``owner_id``, the current one)
    data_schema = {"type": ["object", "null"]}


class DeviceOffline(OMSError):
    status, code, default_message = 409, 40910, "device is offline"


class PayloadTooLarge(OMSError):
    status, code, default_message = 413, 41300, "body too large (limit 1 MiB)"


class RateLimited(OMSError):
    status, code, default_message = 429, 42900, "rate limited"

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        self.retry_after = max(1, int(retry_after))  # seconds: the Retry-After header
        super().__init__(message)


class InternalError(OMSError):
    status, code, default_message = 500, 50000, "internal error"


class Unavailable(OMSError):
    status, code, default_message = 503, 50300, "a dependency is unavailable"


class DeviceTimeout(OMSError):
    """Also the gateway's 504 (a service did not answer in time), whose data is null."""

    status, code, default_message = 504, 50400, "the device did not answer in time"
    data_schema = {"anyOf": [{"type": "null"}, {
        "type": "object", "required": ["message_id"],
        "properties": {"message_id": {"type": "string"}}}]}


def _all_subclasses(cls: type[OMSError]) -> list[type[OMSError]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def from_code(code: int, message: str | None = None, data: Any = None) -> OMSError:
    """The error class for an envelope ``code`` (what a peer service answered)."""
    kind = next((c for c in _all_subclasses(OMSError) if c.code == code), None)
    if kind is None:
        return Unavailable(message or f"peer answered code {code}")
    error = kind.__new__(kind)
    OMSError.__init__(error, message, data=data)
    if isinstance(error, ValidationFailed):
        error.errors = (data or {}).get("errors", [])
    return error
