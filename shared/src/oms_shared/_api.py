"""Declaring endpoints: ``@api.post(rule, body=Schema, returns=Schema, errors=(...))``.

The wrapper parses and validates the body, calls the handler with ``body=`` and the
path parameters, and wraps what it returns in the envelope. The declaration is also
everything :mod:`oms_shared._openapi` documents, and the wrapper holds the handler to
it, so the document cannot say one thing while the endpoint does another:

- ``body``: the pydantic schema that validates the request; the document shows its
  JSON Schema in validation mode.
- ``returns``: the envelope's ``data`` (a type, serialised through it), ``None`` (data
  is null: the handler must return None), or a :class:`File` for an answer that is not
  the envelope (the handler must return a :class:`flask.Response` of that media type
  carrying the declared headers). Anything else is a 500, never an undocumented answer.
- ``errors``: the errors the endpoint answers beyond those every endpoint can
  (:func:`route_errors`); the document lists each status with its codes.
- ``resource``: what the answer carries the id of (``"product"``: ``data.id``, or the
  first item's of a page); the document links it to every endpoint that takes that id
  (a path parameter or a body field ``product_id``).
- ``scope``: the app scope a caller's token must carry (``"operator"``), for the
  endpoint or for all of an :class:`Api`; the token check (``_auth``) answers
  403/40300 to any other. None: any app.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response
from pydantic import BaseModel, TypeAdapter

from oms_shared._auth import public as mark_public
from oms_shared._auth import requires_scope
from oms_shared._envelope import success, success_json
from oms_shared._errors import (
    BadRequest,
    DeviceTimeout,
    EndpointNotFound,
    Forbidden,
    InternalError,
    NotFound,
    OMSError,
    PayloadTooLarge,
    RateLimited,
    TokenInvalid,
    Unauthenticated,
    Unavailable,
    ValidationFailed,
)
from oms_shared._validation import Schema, read_json_object, validate

__all__ = ["Api", "Empty", "EndpointSpec", "File", "Header", "route_errors"]

_PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


class Empty(Schema):
    """A body that takes no fields."""


@dataclass(frozen=True)
class Header:
    """A response header an answer always carries."""

    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class File:
    """A success answered with a file instead of the envelope (the credentials CSV):
    its media type, the headers it always carries and the JSON Schema of its text."""

    media_type: str
    description: str
    headers: Mapping[str, Header] = field(default_factory=dict)
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})

    def checked(self, result: Any, rule: str) -> Response:
        """The handler's answer, if it is what this declaration documents."""
        if not isinstance(result, Response) or result.mimetype != self.media_type:
            raise TypeError(f"{rule} declares a {self.media_type} answer; its handler "
                            f"returned {getattr(result, 'mimetype', type(result).__name__)}")
        missing = [name for name in self.headers if name not in result.headers]
        if missing:
            raise TypeError(f"{rule} declares the headers {missing}; its answer lacks them")
        return result


def route_errors(rule: str, *, public: bool,
                 declared: tuple[type[OMSError], ...] = ()) -> tuple[type[OMSError], ...]:
    """Every error an endpoint can answer: what any endpoint can (a body that is not a
    JSON object or does not validate, one over 1 MiB, too many requests: the gateway's
    limit on tokens, an app's quota on the rest, an internal error, a dependency or the
    service down, no answer in time), a missing or bad token unless it is public, an
    unknown id (or a path parameter the router cannot take) when it has path
    parameters, and what it declares."""
    found: list[type[OMSError]] = [BadRequest, ValidationFailed, PayloadTooLarge, RateLimited,
                                   InternalError, Unavailable, DeviceTimeout]
    if not public:
        found += [Unauthenticated, TokenInvalid]
    if _PARAM.search(rule):
        found += [EndpointNotFound, NotFound]
    found += declared
    return tuple(sorted(set(found), key=lambda kind: kind.code))


@dataclass(frozen=True)
class EndpointSpec:
    rule: str
    #: the operation's id in the document: Flask's endpoint name (``product.product_add``)
    name: str
    summary: str
    body: type[BaseModel]
    #: a type (the envelope's data), None (data is null) or a :class:`File`
    returns: Any
    public: bool
    tag: str
    #: every error the endpoint can answer (:func:`route_errors`)
    errors: tuple[type[OMSError], ...] = ()
    resource: str | None = None
    #: the app scope a caller needs (None: any app)
    scope: str | None = None

    @property
    def path_params(self) -> list[str]:
        return _PARAM.findall(self.rule)

    @property
    def path(self) -> str:
        """The rule as an OpenAPI path: ``/oms/product/detail/{product_id}``."""
        return _PARAM.sub(r"{\1}", self.rule)


class Api:
    """A blueprint whose endpoints are all POST with a JSON object body."""

    def __init__(self, name: str, import_name: str, tag: str | None = None,
                 scope: str | None = None) -> None:
        """``scope``: what every endpoint of this Api requires of the caller's app
        (``Api("system", __name__, scope="operator")``)."""
        self.blueprint = Blueprint(name, import_name)
        self.tag = tag or name
        self.scope = scope

    def post(self, rule: str, *, body: type[BaseModel] = Empty, returns: Any = None,
             errors: tuple[type[OMSError], ...] = (), public: bool = False,
             resource: str | None = None,
             scope: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        needed = None if public else (scope or self.scope)
        # Beyond route_errors: every caller's app has a quota (429); a scope refuses (403).
        errors = (*errors, *(() if public else (RateLimited,)),
                  *((Forbidden,) if needed else ()))

        def decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
            is_file = isinstance(returns, File)
            adapter = TypeAdapter(returns) if returns is not None and not is_file else None

            @functools.wraps(handler)
            def view(**path: Any) -> Response:
                parsed = validate(body, read_json_object())
                result = handler(body=parsed, **path)
                if is_file:
                    return returns.checked(result, rule)
                if isinstance(result, Response):
                    raise TypeError(f"{rule} declares the envelope; its handler returned a "
                                    "Response (declare returns=File(...))")
                if adapter is not None:
                    return success_json(adapter.dump_json(
                        adapter.validate_python(result, from_attributes=True)))
                if result is not None:
                    raise TypeError(f"{rule} declares no data; its handler returned some "
                                    "(declare returns=...)")
                return success(None)

            view.oms_spec = EndpointSpec(  # type: ignore[attr-defined]
                rule=rule, name=f"{self.blueprint.name}.{handler.__name__}",
                summary=(handler.__doc__ or handler.__name__).strip(), body=body,
                returns=returns, public=public, tag=self.tag,
                errors=route_errors(rule, public=public, declared=errors), resource=resource,
                scope=needed)
            if public:
                mark_public(view)
            if needed:
                requires_scope(needed)(view)
            self.blueprint.add_url_rule(rule, endpoint=handler.__name__, view_func=view,
                                        methods=["POST"], provide_automatic_options=False)
            return handler

        return decorator

