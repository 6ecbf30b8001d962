"""Declarative body validation with pydantic: unknown fields are errors too."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from oms_shared._errors import BadRequest, FieldError, ValidationFailed

__all__ = ["IntKey", "Schema", "field_path", "read_json_object", "validate",
           "validation_errors"]

#: An integer id in a body (a product id): what a 32-bit key column can hold.
IntKey = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]

M = TypeVar("M", bound=BaseModel)

_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "field required",
}


class Schema(BaseModel):
    """Base of every request schema: strict about unknown fields and NUL characters."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


def field_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """``("thing_model", "properties", 2, "min")`` -> ``thing_model.properties[2].min``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path or "body"


def validation_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    result = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = _MESSAGES.get(err["type"], err["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        result.append({"field": field_path(loc, prefix), "message": message})
    return result


def read_json_object() -> dict[str, Any]:
    """The request body as a dict; empty counts as ``{}``; anything else is 40000."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def validate(model: type[M], data: Any, prefix: str = "") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(validation_errors(exc, prefix)) from None
