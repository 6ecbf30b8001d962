"""Declaring endpoints: ``@api.post(rule, body=Schema, returns=Schema)``.

The wrapper parses and validates the body, calls the handler with ``body=``
and the path parameters, and wraps what it returns in the envelope. The
declarations are also what :mod:`oms_shared._openapi` documents.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response
from pydantic import BaseModel, TypeAdapter

from oms_shared._auth import public as mark_public
from oms_shared._envelope import success, success_json
from oms_shared._validation import Schema, read_json_object, validate

__all__ = ["Api", "Empty", "EndpointSpec", "dump"]


class Empty(Schema):
    """A body that takes no fields."""


@dataclass(frozen=True)
class EndpointSpec:
    rule: str
    summary: str
    body: type[BaseModel]
    returns: Any
    public: bool
    tag: str


def dump(result: Any) -> Any:
    """JSON-ready data from a handler's result that declared no ``returns``."""
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return result


class Api:
    """A blueprint whose endpoints are all POST with a JSON object body."""

    def __init__(self, name: str, import_name: str, tag: str | None = None) -> None:
        self.blueprint = Blueprint(name, import_name)
        self.tag = tag or name

    def post(self, rule: str, *, body: type[BaseModel] = Empty, returns: Any = None,
             public: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
            adapter = TypeAdapter(returns) if returns is not None else None

            @functools.wraps(handler)
            def view(**path: Any) -> Response:
                parsed = validate(body, read_json_object())
                result = handler(body=parsed, **path)
                if isinstance(result, Response):
                    return result
                if adapter is not None:
                    return success_json(adapter.dump_json(
                        adapter.validate_python(result, from_attributes=True)))
                return success(dump(result))

            view.oms_spec = EndpointSpec(  # type: ignore[attr-defined]
                rule=rule, summary=(handler.__doc__ or handler.__name__).strip(),
                body=body, returns=returns, public=public, tag=self.tag)
            if public:
                mark_public(view)
            self.blueprint.add_url_rule(rule, endpoint=handler.__name__, view_func=view,
                                        methods=["POST"], provide_automatic_options=False)
            return handler

        return decorator
