"""An OpenAPI 3.1 document generated from the endpoints the services declare."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import Flask
from pydantic import TypeAdapter

from oms_shared._api import EndpointSpec
from oms_shared._errors import OMSError, _all_subclasses

__all__ = ["build_spec", "endpoint_specs"]

_PARAM = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


def endpoint_specs(app: Flask) -> list[EndpointSpec]:
    found = []
    for rule in app.url_map.iter_rules():
        spec = getattr(app.view_functions.get(rule.endpoint), "oms_spec", None)
        if spec is not None:
            found.append(spec)
    return sorted(found, key=lambda s: s.rule)


def _schema(kind: Any, components: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(kind).json_schema(ref_template="#/components/schemas/{model}",
                                           mode="serialization")
    components.update(schema.pop("$defs", {}))
    return schema


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["code", "message", "data", "request_id"],
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"},
                           "data": data, "request_id": {"type": "string"}}}


def build_spec(apps: Iterable[Flask], *, version: str) -> dict[str, Any]:
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    codes = sorted({(c.status, c.code, c.default_message) for c in _all_subclasses(OMSError)})
    for app in apps:
        for spec in endpoint_specs(app):
            if spec.rule.startswith("/internal/"):
                continue  # service-to-service only; the gateway does not route it
            path = _PARAM.sub(r"{\1}", spec.rule)
            body = _schema(spec.body, components)
            data = _schema(spec.returns, components) if spec.returns is not None else {}
            operation: dict[str, Any] = {
                "tags": [spec.tag],
                "summary": spec.summary.splitlines()[0],
                "description": spec.summary,
                "requestBody": {"required": False,
                                "content": {"application/json": {"schema": body}}},
                "responses": {
                    "200": {"description": "success (code 0)",
                            "content": {"application/json": {"schema": _envelope(data)}}},
                    "default": {"description": "an error envelope; see x-error-codes",
                                "content": {"application/json": {"schema": _envelope({})}}},
                },
            }
            if spec.public:
                operation["security"] = []
            params = _PARAM.findall(spec.rule)
            if params:
                operation["parameters"] = [
                    {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                    for p in params]
            paths[path] = {"post": operation}
    return {
        "openapi": "3.1.0",
        "info": {"title": "OMS API", "version": version,
                 "description": "Every endpoint is POST with a JSON object body and answers "
                                "with the envelope {code, message, data, request_id}."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"Token": {"type": "apiKey", "in": "header", "name": "Token"}},
        },
        "security": [{"Token": []}],
        "x-error-codes": [{"http": s, "code": c, "meaning": m} for s, c, m in codes],
    }
