"""Declarative body validation with pydantic: unknown fields are errors too.

The request schemas are also what the OpenAPI document shows (their JSON Schema in
validation mode), so a rule is written as a type the schema can state where it can:
``Field(pattern=...)`` rather than a regular expression in a validator,
:func:`accepts` for a field that takes several forms, :func:`refused` for a field the
body may not carry. What JSON Schema cannot state (a cursor the endpoint made, a
calendar day that exists, identifiers unique in a list) is named with
:func:`beyond_schema`: the document lists those refusals (``x-oms-checks``), and the
contract test (``gateway/tests/test_openapi_contract.py``) holds every other refusal
to the document.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from flask import request
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictInt,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from oms_shared._errors import BadRequest, FieldError, ValidationFailed

__all__ = ["CHECKS_KEY", "NO_NUL", "IntKey", "Integer", "Schema", "accepts", "beyond_schema",
           "field_path", "read_json_object", "refused", "validate", "validation_errors"]

#: What the document gives a body's top-level text fields that have no pattern of their
#: own: the rule ``Schema._no_nul`` enforces (a pattern of their own must exclude NUL).
NO_NUL = r"^[^\x00]*$"
#: The OpenAPI extension that lists a schema's refusals beyond JSON Schema (messages).
CHECKS_KEY = "x-oms-checks"



def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


#: An integer in a body: a JSON number without a fraction (``2``, and ``2.0``, the same
#: JSON number, as JSON Schema's ``integer`` has it); never text or a boolean.
Integer = Annotated[StrictInt, BeforeValidator(_integral)]
#: An integer id in a body (a product id): what a 32-bit key column can hold.
IntKey = Annotated[Integer, Field(ge=1, le=2**31 - 1)]

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

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = super().__get_pydantic_json_schema__(core_schema, handler)
        if handler.mode == "validation":
            target = handler.resolve_ref_schema(json_schema)
            for prop in target.get("properties", {}).values():
                _text_without_nul(prop)
        return json_schema


def _text_without_nul(schema: dict[str, Any]) -> None:
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, ()):
            _text_without_nul(branch)
    if schema.get("type") == "string" and not {"enum", "const", "pattern"} & schema.keys():
        schema["pattern"] = NO_NUL


def accepts(kind: Any, message: str, then: Callable[[Any], Any] | None = None
            ) -> BeforeValidator:
    """A field whose input must be a ``kind`` (a union of the forms it takes: what the
    document shows for it), refused otherwise with one ``message`` (not one per form),
    then turned by ``then`` into what the field holds. ``then`` may refuse too
    (``ValueError``), for what the forms cannot state: say so with
    :func:`beyond_schema`."""
    adapter: TypeAdapter[Any] = TypeAdapter(kind)

    def check(value: Any) -> Any:
        try:
            value = adapter.validate_python(value)
        except ValidationError:
            raise ValueError(message) from None
        return then(value) if then is not None else value

    return BeforeValidator(check, json_schema_input_type=kind)


def refused(message: str) -> Any:
    """The type of a field the body may not carry (any value, null too, is refused with
    ``message``): named so that the refusal says why; the document shows it as
    accepting nothing."""

    def refuse(value: Any) -> None:
        raise ValueError(message)

    return Annotated[None, BeforeValidator(refuse),
                     WithJsonSchema({"not": {}, "description": message}, mode="validation")]


def beyond_schema(*messages: str) -> dict[str, Any]:
    """``json_schema_extra`` of a field or model whose validators refuse more than its
    JSON Schema says: the refusals' messages (each appears in the message of the error
    it makes)."""
    return {CHECKS_KEY: list(messages)}


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
