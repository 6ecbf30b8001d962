"""The OpenAPI document and the code agree, endpoint by endpoint.

For every endpoint the document lists, bodies are drawn from its documented request
schema (schemathesis' positive and negative generation) and made by hand around a valid
one (each field given null, a boolean, numbers, text, NUL, lists, objects; an unknown
field; each required field left out). Each body is judged twice, by the document
(JSON Schema 2020-12, as any client's validator would) and by the endpoint's own
validation (the pydantic schema its ``Api`` declaration names). The verdicts must agree;
the one excuse is a refusal the document announces as beyond JSON Schema
(``x-oms-checks``: a cursor the endpoint did not make, a day that does not exist,
identifiers repeated in a thing model), and only for a body the document accepts.

Then the answers: every declared success and error is in the document as the code
declares it (the CSV as text/csv with its headers), and every link names a real
operation and a parameter or body field it takes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError
from schemathesis import GenerationMode

from oms_gateway import openapi_export
from oms_shared import File, OMSError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = 20
CHECKS_KEY = "x-oms-checks"
ODD_VALUES: list[Any] = [None, True, 0, -1, 1.5, 2**31, 10**20, "", "x", "x" * 65, "x" * 300,
                         "a\x00b", " ", "2026-11-28T08:00:00.000Z", "1795852800000", [], ["x"],
                         [1], {}, {"x": 1}]


@pytest.fixture(scope="module")
def platform_doc(tmp_path_factory) -> Iterator[tuple[dict[str, Any], list[Flask]]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMS_JWT__SECRET", "d" * 40)
        patch.setenv("OMS_DATA_DIR", str(tmp_path_factory.mktemp("openapi")))
        apps = openapi_export.service_apps()
        yield openapi_export.export(apps), apps


@pytest.fixture(scope="module")
def loaded(platform_doc) -> Any:
    return schemathesis.openapi.from_dict(platform_doc[0])


def _specs(apps: list[Flask]) -> dict[str, Any]:
    """Each routed endpoint's declaration by its document path."""
    found = {}
    for app in apps:
        for view in app.view_functions.values():
            spec = getattr(view, "oms_spec", None)
            if spec is not None and not spec.rule.startswith("/internal/"):
                found[spec.path] = spec
    return found


# the committed document's paths (test_configs.py checks that it is the code's)
PATHS = sorted(json.loads((ROOT / "docs" / "openapi.json").read_text())["paths"])


class Judge:
    """The document's verdict on a body of one endpoint."""

    def __init__(self, document: dict[str, Any], schema: dict[str, Any]) -> None:
        self.components = document["components"]
        self.schema = schema
        self.validator = jsonschema_rs.Draft202012Validator(
            {**schema, "components": self.components})
        self.checks = sorted(self._checks(schema, set()))

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return schema

    def _checks(self, schema: Any, seen: set[str]) -> set[str]:
        """Every refusal the schema announces beyond JSON Schema, anywhere in it."""
        found: set[str] = set()
        if isinstance(schema, dict):
            ref = schema.get("$ref")
            if ref is not None and ref not in seen:
                seen.add(ref)
                found |= self._checks(self.resolve(schema), seen)
            found |= set(schema.get(CHECKS_KEY, ()))
            for value in schema.values():
                found |= self._checks(value, seen)
        elif isinstance(schema, list):
            for value in schema:
                found |= self._checks(value, seen)
        return found

    def accepts(self, body: Any) -> bool:
        if not self.validator.is_valid(body):
            return False
        return all(self._text_form_accepted(name, value) for name, value in body.items())

    def _text_form_accepted(self, name: str, value: Any) -> bool:
        """A field that may be sent as a JSON text of its other forms
        (``contentMediaType: application/json``): the text must hold one of them."""
        if not isinstance(value, str):
            return True
        prop = self.resolve(self.resolve(self.schema).get("properties", {}).get(name, {}))
        branches = [self.resolve(b) for b in prop.get("anyOf", [])]
        if not any(b.get("contentMediaType") == "application/json" for b in branches):
            return True
        try:
            parsed = json.loads(value) if value.strip() else None
        except ValueError:
            return True  # not JSON: the endpoint's "not valid JSON" (an announced check)
        others = [b for b in prop["anyOf"] if self.resolve(b).get("type") != "string"]
        return jsonschema_rs.Draft202012Validator(
            {"anyOf": others, "components": self.components}).is_valid(parsed)


def _app_verdict(model: Any, body: Any) -> tuple[bool, list[str]]:
    """Whether the endpoint's validation takes the body, and why not."""
    if not isinstance(body, dict):
        return False, ["body is not a JSON object"]
    try:
        model.model_validate(body)
    except ValidationError as exc:
        return False, [e["msg"] for e in exc.errors(include_url=False)]
    except OMSError as exc:  # a validator's own ValidationFailed (the thing model's)
        return False, [e["message"] for e in (exc.data or {}).get("errors", [])] or [
            exc.message]
    return True, []


def _compare(path: str, judge: Judge, model: Any, body: Any) -> str | None:
    documented = judge.accepts(body) if isinstance(body, dict) else False
    accepted, why = _app_verdict(model, body)
    if documented == accepted:
        return None
    if documented and why and all(any(c in m for c in judge.checks) for m in why):
        return None  # a refusal the document announces
    verdicts = f"document {'accepts' if documented else 'refuses'}, endpoint " \
               f"{'accepts' if accepted else 'refuses'} {why}"
    return f"{path}: {verdicts}: {json.dumps(body, default=str)[:300]}"


def _body(case: Any) -> Any:
    body = case.body
    return {} if body is None or type(body).__name__ == "NotSet" else body


def _mutations(judge: Judge, valid: dict[str, Any]) -> Iterator[Any]:
    schema = judge.resolve(judge.schema)
    yield {**valid, "no_such_field": 1}
    for name in schema.get("required", []):
        yield {k: v for k, v in valid.items() if k != name}
    for name in schema.get("properties", {}):
        for value in ODD_VALUES:
            yield {**valid, name: value}
    yield []
    yield "text"


@pytest.mark.parametrize("path", PATHS)
def test_the_documented_body_schema_is_the_validation(platform_doc, loaded, path):
    """Positive, negative and hand-made bodies: document and endpoint agree on each."""
    document, apps = platform_doc
    spec = _specs(apps)[path]
    body_schema = document["paths"][path]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    judge = Judge(document, body_schema)
    operation = loaded[path]["POST"]
    problems: list[str] = []
    valid: list[dict[str, Any]] = []

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def judged(case: Any) -> None:
            body = _body(case)
            problem = _compare(path, judge, spec.body, body)
            if problem:
                problems.append(problem)
            elif isinstance(body, dict) and judge.accepts(body):
                valid.append(body)

        judged()
    assert valid, f"{path}: no body the document and the endpoint both accept"
    for body in _mutations(judge, min(valid, key=lambda b: len(json.dumps(b)))):
        problem = _compare(path, judge, spec.body, body)
        if problem:
            problems.append(problem)
    assert problems == [], "\n".join(dict.fromkeys(problems))


def test_every_answer_is_documented_as_declared(platform_doc):
    document, apps = platform_doc
    for path, spec in _specs(apps).items():
        responses = document["paths"][path]["post"]["responses"]
        assert set(responses) == {"200"} | {str(e.status) for e in spec.errors}, path
        success = responses["200"]["content"]
        if isinstance(spec.returns, File):
            assert list(success) == [spec.returns.media_type], path
            assert set(spec.returns.headers) <= set(responses["200"]["headers"]), path
        else:
            assert list(success) == ["application/json"], path
        for error in spec.errors:
            schema = responses[str(error.status)]["content"]["application/json"]["schema"]
            refs = [b["$ref"] for b in schema.get("anyOf", [schema])]
            assert f"#/components/schemas/Error{error.code}" in refs, (path, error)
        assert responses.get("429", {}).get("headers", {}).get("Retry-After") or (
            "429" not in responses), path


def test_the_credentials_csv_is_documented_as_text_csv(platform_doc):
    document, _ = platform_doc
    success = document["paths"]["/oms/produce/download/{batch_id}"]["post"]["responses"]["200"]
    assert list(success["content"]) == ["text/csv"]
    assert {"Content-Disposition", "Content-Length", "X-Device-Count"} <= set(
        success["headers"])
    pattern = success["content"]["text/csv"]["schema"]["pattern"]
    assert pattern.startswith("^device_id,product_key,device_name,device_secret,batch_no\n")


def test_every_link_names_an_operation_and_what_it_takes(platform_doc):
    document, _ = platform_doc
    operations = {op["post"]["operationId"]: (path, op["post"])
                  for path, op in document["paths"].items()}
    components = document["components"]["schemas"]
    linked = set()
    for path, item in document["paths"].items():
        for name, link in item["post"]["responses"]["200"].get("links", {}).items():
            target_path, target = operations[link["operationId"]]
            linked.add((path, target_path))
            for parameter in link.get("parameters", {}):
                assert parameter.removeprefix("path.") in {
                    p["name"] for p in target.get("parameters", [])}, (path, name)
            for field in link.get("requestBody", {}):
                schema = target["requestBody"]["content"]["application/json"]["schema"]
                target_schema = components[schema["$ref"].rsplit("/", 1)[1]]
                assert field in target_schema["properties"], (path, name)
    # what the stateful run needs: a product, its batch, the batch's devices, the devices
    assert ("/oms/product/add", "/oms/produce/submit") in linked
    assert ("/oms/produce/submit", "/oms/produce/confirm/{batch_id}") in linked
    assert ("/oms/produce/submit", "/oms/produce/device/{batch_id}") in linked
    assert ("/oms/device/list", "/oms/device/detail/{device_id}") in linked
    assert ("/oms/user/add", "/oms/user/bind") in linked


def test_product_update_documents_product_key_as_refused(platform_doc):
    """The defect: the update typed ``product_key`` as accepting null, which it refuses."""
    document, _ = platform_doc
    update = document["components"]["schemas"]["ProductUpdate"]["properties"]["product_key"]
    assert update.get("not") == {}


def test_the_token_timestamp_is_documented_as_validated(platform_doc):
    """The defect: ``timestamp`` was documented as any string; it is 1-16 digits as text or
    an integer."""
    document, _ = platform_doc
    schema = document["components"]["schemas"]["TokenRequest"]["properties"]["timestamp"]
    assert {"pattern": "^[0-9]{1,16}$", "type": "string"} in schema["anyOf"]
    assert any(b.get("type") == "integer" for b in schema["anyOf"])
