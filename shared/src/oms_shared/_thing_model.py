"""The thing model: what a product's devices report and which commands they take.

One module parses and validates a model (:func:`parse`) and, later, checks what
is sent to a device against it (:func:`check_property_set`,
:func:`check_service_call`). Both raise only
:class:`~oms_shared._errors.ValidationFailed`, with field paths such as
``thing_model.properties[2].dataType.specs.min`` or ``params.temperature``.

Two forms are accepted, and may be mixed: the full form of ``docs/api.md``, and bare
identifier strings (``{"events": ["switchon"]}``), which mean "no constraints
beyond the name". A parsed model is always handed back in the full form; an entry
given as a bare string has no ``dataType`` (any JSON value is accepted for it).

Limits keep a model bounded: see the ``MAX_*`` constants.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from oms_shared._errors import ValidationFailed
from oms_shared._validation import Integer, accepts, beyond_schema, validation_errors

__all__ = [
    "CHECKS",
    "TYPE_TAGS",
    "DataType",
    "ThingModel",
    "ThingModelInput",
    "check_event",
    "check_property_set",
    "check_report",
    "check_service_call",
    "parse",
]

IDENTIFIER_PATTERN = r"^[A-Za-z0-9_]{1,64}$"
RESERVED = frozenset({"property"})  # its topics are the property ones
MAX_PROPERTIES = 256
MAX_EVENTS = 128
MAX_SERVICES = 128
MAX_PARAMS = 64
MAX_STRUCT_FIELDS = 32
MAX_ENUM_VALUES = 256
MAX_DEPTH = 3  # struct / array nesting
MAX_NAME = 64
MAX_DESCRIPTION = 512
MAX_TEXT_LENGTH = 10240
MAX_ARRAY_SIZE = 512
MAX_MODEL_BYTES = 256 * 1024

Number = StrictInt | StrictFloat


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# What a model is refused for beyond what its JSON Schema states (the document lists
# them with the field, ``x-oms-checks``): each is part of its error's message.
NOT_JSON = "not valid JSON"
NOT_AN_OBJECT = "must be an object (or a JSON string of one)"
TOO_LARGE = f"at most {MAX_MODEL_BYTES} bytes"
TOO_NESTED = "nested too deeply"
DUPLICATE = "duplicate identifier"
ABOVE_MAX = "must not be greater than max"
NOT_WHOLE = "of an int must be a whole number"
TOO_DEEP = f"dataType nests at most {MAX_DEPTH} deep"
RESERVED_NAME = "is reserved for"
ARRAY_OF_ARRAYS = "an array of arrays is not supported"
NOT_FINITE = "must be a finite number"
CHECKS = (NOT_JSON, NOT_AN_OBJECT, TOO_LARGE, TOO_NESTED, DUPLICATE, ABOVE_MAX, NOT_WHOLE,
          TOO_DEEP, RESERVED_NAME, ARRAY_OF_ARRAYS, NOT_FINITE)

Identifier = Annotated[StrictStr, accepts(Annotated[StrictStr, Field(pattern=IDENTIFIER_PATTERN)],
                                          "must be 1-64 letters, digits or underscores")]
Name = Annotated[StrictStr, Field(max_length=MAX_NAME)]
Description = Annotated[StrictStr, Field(max_length=MAX_DESCRIPTION)]


def _none_is_empty(value: Any) -> Any:
    return {} if value is None else value


def _or_none(kind: Any) -> BeforeValidator:
    """``specs`` of ``kind`` that may be sent as null (meaning none)."""
    return BeforeValidator(_none_is_empty, json_schema_input_type=kind | None)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(NOT_FINITE)
    return value


FiniteNumber = Annotated[Number, AfterValidator(_finite)]


class NumberSpecs(_Strict):
    max: FiniteNumber | None = None
    min: FiniteNumber | None = None  # after max, so that its check can see max
    step: FiniteNumber | None = Field(None, gt=0)
    unit: Annotated[StrictStr, Field(max_length=32)] | None = None
    unitName: Annotated[StrictStr, Field(max_length=32)] | None = None  # noqa: N815

    @field_validator("min")
    @classmethod
    def _not_above_max(cls, value: Any, info: ValidationInfo) -> Any:
        high = info.data.get("max")
        if value is not None and high is not None and value > high:
            raise ValueError(f"{ABOVE_MAX} ({high})")
        return value


class IntType(_Strict):
    type: Literal["int"]
    specs: Annotated[NumberSpecs, _or_none(NumberSpecs)] = NumberSpecs()

    @model_validator(mode="after")
    def _whole(self) -> IntType:
        for name in ("min", "max"):
            value = getattr(self.specs, name)
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"specs.{name} {NOT_WHOLE}")
        return self


class FloatType(_Strict):
    type: Literal["float", "double"]
    specs: Annotated[NumberSpecs, _or_none(NumberSpecs)] = NumberSpecs()


class BoolType(_Strict):
    """``specs`` may label the two values: ``{"0": "off", "1": "on"}``."""

    type: Literal["bool"]
    specs: Annotated[dict[Literal["0", "1"], Name], _or_none(dict[Literal["0", "1"], Name])] = {}


class TextSpecs(_Strict):
    length: Integer = Field(MAX_TEXT_LENGTH, ge=1, le=MAX_TEXT_LENGTH)


class TextType(_Strict):
    type: Literal["text"]
    specs: Annotated[TextSpecs, _or_none(TextSpecs)] = TextSpecs()


EnumValue = Annotated[StrictStr, Field(pattern=r"^-?[0-9]{1,10}$")]


class EnumType(_Strict):
    """``specs`` maps integer values to labels: ``{"0": "off", "1": "heat"}``."""

    type: Literal["enum"]
    specs: Annotated[dict[EnumValue, Name], Field(min_length=1, max_length=MAX_ENUM_VALUES)]


class DateSpecs(_Strict):
    pass


class DateType(_Strict):
    """Epoch milliseconds or an ISO 8601 time."""

    type: Literal["date"]
    specs: Annotated[DateSpecs, _or_none(DateSpecs)] = DateSpecs()


class StructType(_Strict):
    type: Literal["struct"]
    specs: Annotated[list[Annotated[Param, _entry(Param)]],
                     Field(min_length=1, max_length=MAX_STRUCT_FIELDS)]


class ArraySpecs(_Strict):
    size: Integer = Field(MAX_ARRAY_SIZE, ge=1, le=MAX_ARRAY_SIZE)
    item: DataType

    @model_validator(mode="after")
    def _flat(self) -> ArraySpecs:
        if self.item.type == "array":
            raise ValueError(ARRAY_OF_ARRAYS)
        return self


class ArrayType(_Strict):
    type: Literal["array"]
    specs: ArraySpecs


DataType = Annotated[
    IntType | FloatType | BoolType | TextType | EnumType | DateType | StructType | ArrayType,
    Field(discriminator="type"),
]
TYPE_TAGS = frozenset({"int", "float", "double", "bool", "text", "enum", "date", "struct",
                       "array"})


def _depth(data_type: Any) -> int:
    if isinstance(data_type, StructType):
        return 1 + max((_depth(f.dataType) for f in data_type.specs if f.dataType), default=0)
    if isinstance(data_type, ArrayType):
        return 1 + _depth(data_type.specs.item)
    return 1 if data_type is not None else 0


def _check_depth(data_type: Any) -> None:
    if _depth(data_type) > MAX_DEPTH:
        raise ValueError(TOO_DEEP)


def _full(entry: Any) -> Any:
    """A bare identifier string is shorthand for ``{"identifier": it}``."""
    return {"identifier": entry} if isinstance(entry, str) else entry


def _entry(kind: Any) -> BeforeValidator:
    """An entry of ``kind`` that may be given by its identifier alone."""
    return BeforeValidator(_full, json_schema_input_type=Identifier | kind)


class Param(_Strict):
    identifier: Identifier
    name: Name | None = None
    dataType: DataType | None = None  # noqa: N815
    required: StrictBool = False

    @model_validator(mode="after")
    def _check(self) -> Param:
        self.name = self.name or self.identifier
        _check_depth(self.dataType)
        return self


class Property(_Strict):
    identifier: Identifier
    name: Name | None = None
    accessMode: Literal["r", "rw"] = "rw"  # noqa: N815
    required: StrictBool = False
    dataType: DataType | None = None  # noqa: N815
    description: Description | None = None

    @model_validator(mode="after")
    def _check(self) -> Property:
        self.name = self.name or self.identifier
        _check_depth(self.dataType)
        return self


ParamList = Annotated[list[Annotated[Param, _entry(Param)]], Field(max_length=MAX_PARAMS)]


class Event(_Strict):
    identifier: Identifier
    name: Name | None = None
    type: Literal["info", "alert", "error"] = "info"
    outputData: ParamList | None = None  # noqa: N815  (None: not declared, anything goes)
    description: Description | None = None

    @model_validator(mode="after")
    def _check(self) -> Event:
        self.name = self.name or self.identifier
        if self.identifier in RESERVED:
            raise ValueError(f"{self.identifier!r} {RESERVED_NAME} property reports")
        return self


class Service(_Strict):
    identifier: Identifier
    name: Name | None = None
    callType: Literal["sync", "async"] = "sync"  # noqa: N815
    inputData: ParamList | None = None  # noqa: N815  (None: not declared, anything goes)
    outputData: ParamList | None = None  # noqa: N815
    description: Description | None = None

    @model_validator(mode="after")
    def _check(self) -> Service:
        self.name = self.name or self.identifier
        if self.identifier in RESERVED:
            raise ValueError(f"{self.identifier!r} {RESERVED_NAME} property set")
        return self


def _duplicates(entries: list[Any] | None, path: str) -> list[dict[str, str]]:
    """Identifiers repeated within one list, and within the lists nested in it."""
    errors: list[dict[str, str]] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries or []):
        here = f"{path}[{index}]"
        if entry.identifier in seen:
            errors.append({"field": f"{here}.identifier",
                           "message": f"{DUPLICATE} {entry.identifier!r}"})
        seen.add(entry.identifier)
        for name in ("inputData", "outputData"):
            errors += _duplicates(getattr(entry, name, None), f"{here}.{name}")
        errors += _nested_duplicates(getattr(entry, "dataType", None), f"{here}.dataType")
    return errors


def _nested_duplicates(data_type: Any, path: str) -> list[dict[str, str]]:
    if isinstance(data_type, StructType):
        return _duplicates(data_type.specs, f"{path}.specs")
    if isinstance(data_type, ArrayType):
        return _nested_duplicates(data_type.specs.item, f"{path}.specs.item")
    return []


class ThingModel(_Strict):
    properties: Annotated[list[Annotated[Property, _entry(Property)]],
                          Field(max_length=MAX_PROPERTIES)] = []
    events: Annotated[list[Annotated[Event, _entry(Event)]], Field(max_length=MAX_EVENTS)] = []
    services: Annotated[list[Annotated[Service, _entry(Service)]],
                        Field(max_length=MAX_SERVICES)] = []

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def property(self, identifier: str) -> Property | None:
        return next((p for p in self.properties if p.identifier == identifier), None)

    def service(self, identifier: str) -> Service | None:
        return next((s for s in self.services if s.identifier == identifier), None)


for _model in (StructType, ArraySpecs, ArrayType, Param, Property, Event, Service, ThingModel):
    _model.model_rebuild()


def parse(raw: Any, field: str = "thing_model") -> ThingModel:
    """A thing model from a JSON string, an object or ``None`` (an empty model)."""
    if raw is None:
        return ThingModel()
    if isinstance(raw, str):
        if len(raw.encode()) > MAX_MODEL_BYTES:
            raise ValidationFailed.field(field, TOO_LARGE)
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except (ValueError, RecursionError):
            raise ValidationFailed.field(field, NOT_JSON) from None
    if not isinstance(raw, dict):
        raise ValidationFailed.field(field, NOT_AN_OBJECT)
    try:
        model = ThingModel.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(_readable(validation_errors(exc, field))) from None
    except RecursionError:
        raise ValidationFailed.field(field, TOO_NESTED) from None
    errors = [e for kind in ("properties", "events", "services")
              for e in _duplicates(getattr(model, kind), f"{field}.{kind}")]
    if errors:
        raise ValidationFailed(errors)
    stored = len(json.dumps(model.as_dict(), ensure_ascii=False, separators=(",", ":")).encode())
    if stored > MAX_MODEL_BYTES:  # what is stored, cached and returned, whatever the input form
        raise ValidationFailed.field(field, f"{TOO_LARGE} in full form (this one takes {stored})")
    return model


def _full_form(raw: Any) -> dict[str, Any]:
    return parse(raw).as_dict()


#: A thing model as a request body field: an object, a JSON text of one, or null (an
#: empty model); what the field holds is the parsed model in full form (a dict).
ThingModelInput = Annotated[
    dict[str, Any],
    BeforeValidator(_full_form, json_schema_input_type=ThingModel | Annotated[
        StrictStr, Field(description="the object form as a JSON text",
                         json_schema_extra={"contentMediaType": "application/json"})] | None),
    Field(json_schema_extra=beyond_schema(*CHECKS)),
]


_TAG = re.compile(r"(dataType|item)\.(?:" + "|".join(sorted(TYPE_TAGS)) + r")(?=\.|\[|$)")


def _readable(errors: list[dict[str, str]]) -> list[dict[str, str]]:
    """``dataType.int.specs.min`` -> ``dataType.specs.min`` (pydantic names the variant);
    plainer words for an entry that is neither a name nor an object."""
    result = []
    for error in errors:
        message = error["message"]
        if message.startswith("Input should be a valid dictionary or instance of"):
            message = "must be an identifier string or an object"
        result.append({"field": _TAG.sub(r"\1", error["field"]), "message": message})
    return result


# ---- values sent to a device ------------------------------------------------------------


def _check_value(data_type: Any, value: Any, path: str) -> str | None:
    """Why ``value`` does not fit ``data_type``, or None when it does."""
    if data_type is None:
        return None
    kind, specs = data_type.type, data_type.specs
    if kind in ("int", "float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number ({kind})"
        if kind == "int" and not (isinstance(value, int) or float(value).is_integer()):
            return "must be a whole number"
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        if specs.min is not None and value < specs.min:
            return f"must be at least {specs.min}"
        if specs.max is not None and value > specs.max:
            return f"must be at most {specs.max}"
        return None
    if kind == "bool":
        return None if isinstance(value, bool) or (value in (0, 1) and not isinstance(
            value, float)) else "must be true/false (or 0/1)"
    if kind == "text":
        if not isinstance(value, str):
            return "must be text"
        return None if len(value) <= specs.length else f"at most {specs.length} characters"
    if kind == "enum":
        if isinstance(value, bool) or not isinstance(value, int | str) or str(value) not in specs:
            return f"must be one of {', '.join(list(specs)[:20])}"
        return None
    if kind == "date":
        return _check_date(value)
    if kind == "struct":
        return _check_struct(specs, value, path)
    if kind == "array":
        if not isinstance(value, list):
            return "must be a list"
        if len(value) > specs.size:
            return f"at most {specs.size} items"
        for index, item in enumerate(value):
            problem = _check_value(specs.item, item, f"{path}[{index}]")
            if problem:
                return f"item {index} {problem}"
        return None
    return None


def _check_date(value: Any) -> str | None:
    if isinstance(value, bool):
        return "must be epoch milliseconds or an ISO 8601 time"
    if isinstance(value, int) or (isinstance(value, str) and value.isascii()
                                  and value.isdigit()):
        return None
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return "must be epoch milliseconds or an ISO 8601 time"
        return None
    return "must be epoch milliseconds or an ISO 8601 time"


def _check_struct(fields: list[Param], value: Any, path: str) -> str | None:
    if not isinstance(value, dict):
        return "must be an object"
    known = {f.identifier: f for f in fields}
    for key in value:
        if key not in known:
            return f"has an unknown field {key[:64]!r}"
    for field in fields:
        if field.identifier not in value:
            if field.required:
                return f"misses the field {field.identifier!r}"
            continue
        problem = _check_value(field.dataType, value[field.identifier],
                               f"{path}.{field.identifier}")
        if problem:
            return f"field {field.identifier!r} {problem}"
    return None


def _params_errors(params: Any, spec: dict[str, Any], what: str) -> list[dict[str, str]]:
    if not isinstance(params, dict):
        return [{"field": "params", "message": "must be an object"}]
    errors = []
    for key, value in params.items():
        entry = spec.get(key)
        path = f"params.{key[:64]}"
        if entry is None:
            errors.append({"field": path, "message": f"unknown {what}"})
            continue
        problem = _check_value(entry.dataType, value, path)
        if problem:
            errors.append({"field": path, "message": problem})
    return errors


def _check_param_list(declared: list[Param] | None, params: Any, what: str) -> None:
    """``params`` against a service's input or an event's output (``None``: declared by
    name only, so any object of parameters)."""
    if declared is None:
        if not isinstance(params, dict):
            raise ValidationFailed.field("params", "must be an object")
        return
    errors = _params_errors(params, {p.identifier: p for p in declared}, what)
    if isinstance(params, dict):
        errors += [{"field": f"params.{p.identifier}", "message": "field required"}
                   for p in declared if p.required and p.identifier not in params]
    if errors:
        raise ValidationFailed(errors)


def check_property_set(model: ThingModel, params: Any) -> None:
    """Values a caller wants to set: known, writable, of the right type and range."""
    writable = {p.identifier: p for p in model.properties}
    errors = _params_errors(params, writable, "property")
    if isinstance(params, dict):
        if not params:
            errors.append({"field": "params", "message": "name at least one property"})
        for key in params:
            prop = writable.get(key)
            if prop is not None and prop.accessMode == "r":
                errors.append({"field": f"params.{key}", "message": "property is read-only"})
    if errors:
        raise ValidationFailed(errors)


def check_service_call(model: ThingModel, service: str, params: Any) -> Service:
    """The service exists and ``params`` fit its input; returns the service."""
    found = model.service(service)
    if found is None:
        raise ValidationFailed.field("service", f"unknown service {service[:64]!r}")
    _check_param_list(found.inputData, params, "input parameter")
    return found


# ---- what a device reports --------------------------------------------------------------


def _at(errors: list[dict[str, str]], field: str) -> list[dict[str, str]]:
    """``params.x`` -> ``{field}.x``: the helpers above name the root ``params``."""
    if field == "params":
        return errors
    return [{**e, "field": field + e["field"][len("params"):]} for e in errors]


def check_report(model: ThingModel, params: Any, field: str = "params") -> None:
    """A device's property report: every identifier a property of the model, every value
    of its type and in its range. ``accessMode`` is not checked: devices report read-only
    properties too."""
    known = {p.identifier: p for p in model.properties}
    errors = _params_errors(params, known, "property")
    if errors:
        raise ValidationFailed(_at(errors, field))


def check_event(model: ThingModel, identifier: str, params: Any) -> Event:
    """An event a device fires: one of the model's, its ``params`` fitting its
    ``outputData`` (required fields present); returns the event."""
    found = next((e for e in model.events if e.identifier == identifier), None)
    if found is None:
        raise ValidationFailed.field("identifier", f"unknown event {identifier[:64]!r}")
    _check_param_list(found.outputData, params, "output parameter")
    return found
