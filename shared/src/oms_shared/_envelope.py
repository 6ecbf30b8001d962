"""The JSON envelope every response is wrapped in, and the one error handler."""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

import sqlalchemy.exc
import sqlalchemy.orm.exc
from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException

from oms_shared import _errors as errors
from oms_shared._redis_client import UNAVAILABLE

__all__ = ["error_for", "error_response", "register_error_handlers", "render", "success",
           "success_json"]

log = logging.getLogger("oms.errors")

#: Seconds a 429 asks the caller to wait (``Retry-After``) unless the error says
#: (``RateLimited.retry_after``: an app's quota).
RETRY_AFTER = 1

_HTTP_TO_ERROR: dict[int, type[errors.OMSError]] = {
    400: errors.BadRequest,
    404: errors.EndpointNotFound,
    405: errors.MethodNotAllowed,
    413: errors.PayloadTooLarge,
    429: errors.RateLimited,
}


def render(status: int, code: int, message: str, data: Any, *,
           retry_after: int = RETRY_AFTER) -> Response:
    request_id = g.get("oms_request_id", "")
    body = json.dumps(
        {"code": code, "message": message, "data": data, "request_id": request_id},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    response = Response(body, status=status, mimetype="application/json")
    if status == 429:  # every rate-limited answer says when to come back
        response.headers["Retry-After"] = str(max(1, retry_after))
    return response


def success(data: Any = None) -> Response:
    return render(200, 0, "ok", data)


def success_json(data: bytes) -> Response:
    """A success envelope around data that is JSON already (what pydantic dumped)."""
    request_id = g.get("oms_request_id", "")  # made of [A-Za-z0-9._:-]: safe to splice in
    body = b'{"code":0,"message":"ok","data":%b,"request_id":"%b"}' % (data,
                                                                       request_id.encode())
    return Response(body, status=200, mimetype="application/json")


def error_response(error: errors.OMSError) -> Response:
    return render(error.status, error.code, error.message, error.data,
                  retry_after=getattr(error, "retry_after", RETRY_AFTER))


@functools.cache
def _of_status(status: int) -> type[errors.OMSError]:
    """An error class for an HTTP status the hierarchy has none for (werkzeug's 411, 414,
    415, 416, 431 ...): the status kept, code status*100."""
    return type(f"HTTPError{status}", (errors.OMSError,),
                {"status": status, "code": status * 100})


def _from_http(exc: HTTPException) -> errors.OMSError:
    """Whatever werkzeug refuses a request with keeps its status in the envelope."""
    status = exc.code or 500
    kind = _HTTP_TO_ERROR.get(status)
    if kind is not None:
        return kind()
    if status == 500 or not 400 <= status < 600:
        return errors.InternalError()
    return _of_status(status)(exc.name.lower())


_RETRYABLE_PGCODES = {"40001", "40P01"}  # serialization failure, deadlock


def error_for(exc: Exception) -> errors.OMSError:
    """The client's view of an exception that is not an OMSError."""
    if isinstance(exc, errors.OMSError):
        return exc
    if isinstance(exc, UNAVAILABLE):
        log.error("redis unavailable: %s", type(exc).__name__)
        return errors.Unavailable("Redis is unavailable")
    if isinstance(exc, sqlalchemy.orm.exc.StaleDataError | sqlalchemy.orm.exc.ObjectDeletedError):
        return errors.NotFound("resource")  # removed by a concurrent request
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and getattr(
            exc.orig, "sqlstate", None) in _RETRYABLE_PGCODES:
        return errors.InvalidState("conflicts with a concurrent change; retry")
    if isinstance(exc, sqlalchemy.exc.IntegrityError):
        return errors.InvalidState("conflicts with a concurrent change; retry")
    if isinstance(exc, sqlalchemy.exc.DataError):
        return errors.ValidationFailed.field("body", "a value cannot be stored (out of range?)")
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        log.error("database unavailable: %s", type(exc).__name__)
        return errors.Unavailable("the database is unavailable")
    log.exception("unhandled error")
    return errors.InternalError()


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(errors.OMSError, error_response)
    app.register_error_handler(HTTPException, lambda exc: error_response(_from_http(exc)))
    app.register_error_handler(Exception, lambda exc: error_response(error_for(exc)))
