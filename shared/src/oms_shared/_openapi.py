"""An OpenAPI 3.1 document generated from the endpoints the services declare.

Everything in it comes from an endpoint's declaration (:class:`oms_shared.Api`), which
the endpoint is held to at run time:

- the request body: the JSON Schema of the pydantic schema that validates it
  (validation mode: the forms a field accepts, patterns, bounds, unknown fields
  refused, a field the body may not carry shown as accepting nothing); refusals no
  JSON Schema can state are listed as ``x-oms-checks``;
- the success: the envelope around the JSON Schema of ``returns`` (serialisation
  mode), or the declared file (media type, headers, text);
- each error status the endpoint can answer, with its codes and the envelope's
  ``data`` for each (:func:`oms_shared._api.route_errors`);
- links from an answer that carries a resource's id (``resource=``) to every endpoint
  that takes that id, as a path parameter or a body field named ``<resource>_id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask
from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema as cs

from oms_shared._api import EndpointSpec, File
from oms_shared._errors import OMSError, _all_subclasses

__all__ = ["COMMON_HEADERS", "build_spec", "endpoint_specs"]

REF = "#/components/schemas/{model}"

#: Headers every answer carries (the gateway adds the last two to every answer).
COMMON_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {"description": "the request's id, as in the envelope's request_id",
                     "required": True,
                     "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}},
    "X-Content-Type-Options": {"description": "nosniff", "required": True,
                               "schema": {"const": "nosniff"}},
    "Cache-Control": {"description": "no-store: nothing is kept by a cache on the way",
                      "required": True, "schema": {"const": "no-store"}},
}
RETRY_AFTER = {"description": "seconds to wait before trying again", "required": True,
               "schema": {"type": "string", "pattern": "^[0-9]+$"}}


_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


class _Generator(GenerateJsonSchema):
    """pydantic's JSON Schema, where it says less than the validation does."""

    def dict_schema(self, schema: cs.DictSchema) -> JsonSchemaValue:
        json_schema = super().dict_schema(schema)
        # keys constrained by a pattern: pydantic refuses any other key, patternProperties
        # alone would not
        if "patternProperties" in json_schema and "additionalProperties" not in json_schema:
            json_schema["additionalProperties"] = False
        return json_schema


def _bounds(schema: Any) -> None:
    """Bounds declared on a type with a validator (``Annotated[Integer, Field(ge=1)]``)
    come out of pydantic under its own names (``ge``), which JSON Schema ignores."""
    if isinstance(schema, dict):
        if schema.get("type") in ("integer", "number"):
            for ours, theirs in _BOUNDS.items():
                if ours in schema:
                    schema[theirs] = schema.pop(ours)
        for value in schema.values():
            _bounds(value)
    elif isinstance(schema, list):
        for value in schema:
            _bounds(value)


def endpoint_specs(app: Flask) -> list[EndpointSpec]:
    found = []
    for rule in app.url_map.iter_rules():
        spec = getattr(app.view_functions.get(rule.endpoint), "oms_spec", None)
        if spec is not None:
            found.append(spec)
    return sorted(found, key=lambda s: s.rule)


def _is_data(returns: Any) -> bool:
    return returns is not None and not isinstance(returns, File)


def _error_name(kind: type[OMSError]) -> str:
    return f"Error{kind.code}"


def _error_envelope(kind: type[OMSError]) -> dict[str, Any]:
    return {"type": "object", "description": kind.default_message,
            "required": ["code", "message", "data", "request_id"],
            "properties": {"code": {"const": kind.code}, "message": {"type": "string"},
                           "data": kind.data_schema, "request_id": {"type": "string"}}}


def _success_envelope(data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["code", "message", "data", "request_id"],
            "properties": {"code": {"const": 0}, "message": {"const": "ok"}, "data": data,
                           "request_id": {"type": "string"}}}


def _headers(**extra: dict[str, Any]) -> dict[str, Any]:
    return {**{name: {"$ref": f"#/components/headers/{name}"} for name in COMMON_HEADERS},
            **extra}


def _success(spec: EndpointSpec, data: dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(spec.returns, File):
        file = spec.returns
        return {"description": file.description,
                "headers": _headers(**{name: {"description": h.description, "required": True,
                                              "schema": dict(h.schema)}
                                       for name, h in file.headers.items()}),
                "content": {file.media_type: {"schema": dict(file.schema)}}}
    return {"description": "success (code 0)", "headers": _headers(),
            "content": {"application/json": {
                "schema": _success_envelope(data if data is not None else {"type": "null"})}}}


def _errors(spec: EndpointSpec) -> dict[str, Any]:
    statuses: dict[int, list[type[OMSError]]] = {}
    for kind in spec.errors:
        statuses.setdefault(kind.status, []).append(kind)
    responses = {}
    for status, kinds in sorted(statuses.items()):
        refs = [{"$ref": REF.format(model=_error_name(kind))} for kind in kinds]
        extra = {"Retry-After": RETRY_AFTER} if status == 429 else {}
        responses[str(status)] = {
            "description": "; ".join(f"{k.code}: {k.default_message}" for k in kinds),
            "headers": _headers(**extra),
            "content": {"application/json": {
                "schema": refs[0] if len(refs) == 1 else {"anyOf": refs}}}}
    return responses


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _id_pointer(spec: EndpointSpec, data: dict[str, Any], components: dict[str, Any]) -> str:
    """Where in a success the id of ``spec.resource`` is: ``/data/id``,
    ``/data/<resource>_id``, or a page's first item's ``/data/list/0/id``."""
    properties = _resolve(data, components).get("properties", {})
    if "list" in properties:
        item = _resolve(properties["list"].get("items", {}), components)
        if "id" in item.get("properties", {}):
            return "/data/list/0/id"
    for name in ("id", f"{spec.resource}_id"):
        if name in properties:
            return f"/data/{name}"
    raise ValueError(f"{spec.rule} declares resource={spec.resource!r} but its answer "
                     "carries no id")


def _links(specs: list[EndpointSpec], bodies: dict[str, dict[str, Any]],
           datas: dict[str, dict[str, Any]], components: dict[str, Any]
           ) -> dict[str, dict[str, Any]]:
    """Per producing endpoint, its links: every other endpoint taking the id it gives."""
    links: dict[str, dict[str, Any]] = {}
    for producer in specs:
        if producer.resource is None:
            continue
        pointer = _id_pointer(producer, datas[producer.name], components)
        field = f"{producer.resource}_id"
        found = {}
        for consumer in specs:
            if consumer is producer:
                continue
            expression = f"$response.body#{pointer}"
            if field in consumer.path_params:
                found[consumer.name] = {"operationId": consumer.name,
                                        "parameters": {f"path.{field}": expression}}
            elif field in _resolve(bodies[consumer.name], components).get("properties", {}):
                found[consumer.name] = {"operationId": consumer.name,
                                        "requestBody": {field: expression}}
        links[producer.name] = dict(sorted(found.items()))
    return links


def _operation(spec: EndpointSpec, body: dict[str, Any], data: dict[str, Any] | None,
               links: dict[str, Any]) -> dict[str, Any]:
    success = _success(spec, data)
    if links:
        success["links"] = links
    operation: dict[str, Any] = {
        "operationId": spec.name,
        "tags": [spec.tag],
        "summary": spec.summary.splitlines()[0],
        "description": spec.summary,
        "requestBody": {"required": False, "description": "a JSON object; empty means {}",
                        "content": {"application/json": {"schema": body}}},
        "responses": {"200": success, **_errors(spec)},
    }
    if spec.public:
        operation["security"] = []
    if spec.path_params:
        operation["parameters"] = [
            {"name": p, "in": "path", "required": True,
             "description": "an id; one that names nothing of the caller's tenant is 40401",
             "schema": {"type": "string"}}
            for p in spec.path_params]
    return operation


def build_spec(apps: Iterable[Flask], *, version: str) -> dict[str, Any]:
    specs = [spec for app in apps for spec in endpoint_specs(app)
             if not spec.rule.startswith("/internal/")]  # the gateway does not route those
    for attribute in ("name", "path"):
        seen = [getattr(spec, attribute) for spec in specs]
        twice = sorted({value for value in seen if seen.count(value) > 1})
        if twice:
            raise ValueError(f"endpoints share an operation {attribute}: {twice}")
    inputs: list[tuple[tuple[str, str], Any, TypeAdapter[Any]]] = []
    for spec in specs:
        inputs.append(((spec.name, "body"), "validation", TypeAdapter(spec.body)))
        if _is_data(spec.returns):
            inputs.append(((spec.name, "data"), "serialization", TypeAdapter(spec.returns)))
    keyed, definitions = TypeAdapter.json_schemas(inputs, ref_template=REF,
                                                  schema_generator=_Generator)
    _bounds(list(keyed.values()))
    components: dict[str, Any] = dict(definitions.get("$defs", {}))
    _bounds(components)
    bodies = {spec.name: keyed[(spec.name, "body"), "validation"] for spec in specs}
    datas = {spec.name: keyed[(spec.name, "data"), "serialization"] for spec in specs
             if _is_data(spec.returns)}
    kinds = {kind for spec in specs for kind in spec.errors}
    components.update({_error_name(kind): _error_envelope(kind) for kind in kinds})
    links = _links(specs, bodies, datas, components)
    paths = {spec.path: {"post": _operation(spec, bodies[spec.name], datas.get(spec.name),
                                            links.get(spec.name, {}))}
             for spec in specs}
    codes = sorted({(c.status, c.code, c.default_message) for c in _all_subclasses(OMSError)})
    return {
        "openapi": "3.1.0",
        "info": {"title": "OMS API", "version": version,
                 "description": "Every endpoint is POST with a JSON object body and answers "
                                "with the envelope {code, message, data, request_id} (one "
                                "answers a file: its media type says so). Each lists the "
                                "statuses it can answer with their codes; a request the "
                                "gateway cannot take at all (a malformed request line or "
                                "headers) is refused before any endpoint sees it, with the "
                                "envelope too (see docs/api.md)."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(components.items())),
            "headers": COMMON_HEADERS,
            "securitySchemes": {
                "Token": {"type": "apiKey", "in": "header", "name": "Token"},
                "Bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
        "security": [{"Token": []}, {"Bearer": []}],
        "x-error-codes": [{"http": s, "code": c, "meaning": m} for s, c, m in codes],
    }
