"""The thing model parser and the checks of values sent to devices."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_shared import _thing_model as thing_model
from oms_shared._errors import ValidationFailed

FULL = {
    "properties": [{"identifier": "temperature", "name": "Temperature", "accessMode": "rw",
                    "dataType": {"type": "float",
                                 "specs": {"min": -40, "max": 120, "unit": "°C"}}}],
    "events": [{"identifier": "switchon", "type": "info", "outputData": []}],
    "services": [{"identifier": "so", "callType": "sync",
                  "inputData": [{"identifier": "temporary", "dataType": {"type": "float"}}],
                  "outputData": []}],
}


def _fields(raw):
    with pytest.raises(ValidationFailed) as caught:
        thing_model.parse(raw)
    return {e["field"]: e["message"] for e in caught.value.errors}


def test_the_contracts_full_form_parses():
    model = thing_model.parse(FULL)
    assert model.property("temperature").dataType.specs.max == 120
    assert model.service("so").callType == "sync"


def test_the_seeds_short_form_as_a_json_string():
    model = thing_model.parse('{"events": ["switchon"]}')
    assert model.as_dict() == {"properties": [], "services": [],
                               "events": [{"identifier": "switchon", "name": "switchon",
                                           "type": "info"}]}


def test_none_and_empty_string_are_an_empty_model():
    assert thing_model.parse(None).as_dict() == {"properties": [], "events": [], "services": []}
    assert thing_model.parse("").as_dict()["properties"] == []


def test_round_trip_is_stable():
    once = thing_model.parse(FULL).as_dict()
    assert thing_model.parse(json.dumps(once)).as_dict() == once


@pytest.mark.parametrize(("raw", "field"), [
    ({"properties": [{}, {}, {"identifier": "t", "dataType": {"type": "int",
                                                              "specs": {"min": 9, "max": 1}}}]},
     "thing_model.properties[2].dataType.specs.min"),
    ({"properties": [{"identifier": "bad id"}]}, "thing_model.properties[0].identifier"),
    ({"properties": [{"identifier": "x" * 65}]}, "thing_model.properties[0].identifier"),
    # a final newline: Python's "$" matched before it, and the identifier was taken
    ({"properties": [{"identifier": "temperature\n"}]}, "thing_model.properties[0].identifier"),
    ({"events": ["alarm\n"]}, "thing_model.events[0].identifier"),
    ({"properties": ["a", "b", "a"]}, "thing_model.properties[2].identifier"),
    ({"services": [{"identifier": "s", "inputData": ["p", "p"]}]},
     "thing_model.services[0].inputData[1].identifier"),
    ({"properties": [{"identifier": "a", "dataType": {"type": "colour"}}]},
     "thing_model.properties[0].dataType"),
    ({"properties": [{"identifier": "a", "dataType": {"type": "enum", "specs": {}}}]},
     "thing_model.properties[0].dataType.specs"),
    ({"properties": [{"identifier": "a", "dataType": {"type": "text",
                                                      "specs": {"length": 0}}}]},
     "thing_model.properties[0].dataType.specs.length"),
    ({"properties": [{"identifier": "a", "accessMode": "w"}]},
     "thing_model.properties[0].accessMode"),
    ({"events": [{"identifier": "e", "type": "fatal"}]}, "thing_model.events[0].type"),
    ({"events": ["property"]}, "thing_model.events[0]"),
    ({"services": [{"identifier": "s", "callType": "later"}]}, "thing_model.services[0].callType"),
    ({"widgets": []}, "thing_model.widgets"),
    ({"properties": [42]}, "thing_model.properties[0]"),
    ("[1, 2]", "thing_model"),
    ("{not json", "thing_model"),
    (17, "thing_model"),
])
def test_bad_models_name_the_field(raw, field):
    assert field in _fields(raw)


def test_limits_bound_a_model():
    too_many = {"properties": [f"p{i}" for i in range(thing_model.MAX_PROPERTIES + 1)]}
    assert "thing_model.properties" in _fields(too_many)
    deep = {"identifier": "leaf", "dataType": {"type": "int"}}
    for level in range(thing_model.MAX_DEPTH + 1):
        deep = {"identifier": f"s{level}", "dataType": {"type": "struct", "specs": [deep]}}
    assert any("deep" in m for m in _fields({"properties": [deep]}).values())
    assert "thing_model" in _fields(json.dumps({"properties": ["x" * 60] * 5000}))


def _big_model() -> dict:
    """About 1 MB in full form, every count and text within its own limit."""
    def entry(kind: str, i: int) -> dict:
        return {"identifier": f"{kind}{i}", "name": "n" * thing_model.MAX_NAME,
                "description": "d" * thing_model.MAX_DESCRIPTION,
                "dataType": {"type": "enum", "specs": {str(v): "v" * 64 for v in range(32)}}}

    return {"properties": [entry("p", i) for i in range(thing_model.MAX_PROPERTIES)],
            "events": [{"identifier": f"e{i}", "description": "d" * 512} for i in range(128)],
            "services": [{"identifier": f"s{i}", "description": "d" * 512} for i in range(128)]}


@pytest.mark.parametrize("form", ["object", "string"])
def test_the_size_limit_holds_for_the_stored_form_whatever_the_input_form(form):
    raw = _big_model()
    assert len(json.dumps(raw)) > 2 * thing_model.MAX_MODEL_BYTES
    with pytest.raises(ValidationFailed) as caught:
        thing_model.parse(raw if form == "object" else json.dumps(raw))
    assert caught.value.errors[0]["field"] == "thing_model"


def test_a_short_form_that_grows_past_the_limit_when_expanded_is_refused():
    """Bare names are stored in full form (name and type added): the bound is on that.
    60 services of 64 bare parameters each: under the limit as sent, far over it stored."""
    raw = {"services": [{"identifier": f"s{i}",
                         "inputData": [f"{'p' * 56}{j:03d}" for j in range(64)]}
                        for i in range(60)]}
    assert len(json.dumps(raw, separators=(",", ":"))) < thing_model.MAX_MODEL_BYTES
    with pytest.raises(ValidationFailed) as caught:
        thing_model.parse(raw)
    assert caught.value.errors[0]["field"] == "thing_model"
    assert "full form" in caught.value.errors[0]["message"]


MODEL = thing_model.parse({
    "properties": [
        {"identifier": "temperature",
         "dataType": {"type": "float", "specs": {"min": -40, "max": 120}}},
        {"identifier": "count", "dataType": {"type": "int", "specs": {"min": 0, "max": 10}}},
        {"identifier": "on", "dataType": {"type": "bool"}},
        {"identifier": "mode", "dataType": {"type": "enum", "specs": {"0": "off", "1": "heat"}}},
        {"identifier": "label", "dataType": {"type": "text", "specs": {"length": 4}}},
        {"identifier": "when", "dataType": {"type": "date"}},
        {"identifier": "pos", "dataType": {"type": "struct", "specs": [
            {"identifier": "x", "dataType": {"type": "int"}, "required": True}, "y"]}},
        {"identifier": "levels", "dataType": {"type": "array", "specs": {
            "size": 2, "item": {"type": "int", "specs": {"max": 5}}}}},
        {"identifier": "serial", "accessMode": "r"},
        "nice",
    ],
    "services": [{"identifier": "so", "inputData": [
        {"identifier": "temporary", "dataType": {"type": "float"}, "required": True}]}, "reboot"],
})


@pytest.mark.parametrize("params", [
    {"temperature": 21.5}, {"count": 10}, {"count": 3.0}, {"on": True}, {"on": 0},
    {"mode": 1}, {"mode": "0"}, {"label": "abcd"}, {"when": 1764316800000},
    {"when": "2026-11-28T08:00:00.000Z"}, {"pos": {"x": 1}}, {"pos": {"x": 1, "y": "any"}},
    {"levels": [1, 5]}, {"nice": "1150001"}, {"nice": {"anything": [1]}},
])
def test_good_property_values_pass(params):
    thing_model.check_property_set(MODEL, params)


@pytest.mark.parametrize(("params", "message"), [
    ({"temperature": 121}, "at most 120"), ({"temperature": "hot"}, "number"),
    ({"count": 1.5}, "whole"), ({"count": True}, "number"), ({"on": "yes"}, "true/false"),
    ({"mode": 7}, "one of"), ({"label": "abcde"}, "at most 4"), ({"when": "soon"}, "epoch"),
    ({"pos": {"y": 1}}, "misses"), ({"pos": {"x": 1, "z": 2}}, "unknown field"),
    ({"levels": [1, 2, 3]}, "at most 2"), ({"levels": [9]}, "at most 5"),
    ({"serial": "x"}, "read-only"), ({"ghost": 1}, "unknown property"),
])
def test_bad_property_values_are_named(params, message):
    with pytest.raises(ValidationFailed) as caught:
        thing_model.check_property_set(MODEL, params)
    [error] = caught.value.errors
    assert error["field"] == f"params.{next(iter(params))}"
    assert message in error["message"]


def test_service_calls_are_checked():
    assert thing_model.check_service_call(MODEL, "so", {"temporary": 12.5}).identifier == "so"
    thing_model.check_service_call(MODEL, "reboot", {"whatever": 1})  # declared by name only
    for service, params, field in [("so", {}, "params.temporary"),
                                   ("so", {"temporary": "x"}, "params.temporary"),
                                   ("so", {"temporary": 1, "extra": 2}, "params.extra"),
                                   ("nope", {}, "service")]:
        with pytest.raises(ValidationFailed) as caught:
            thing_model.check_service_call(MODEL, service, params)
        assert field in [e["field"] for e in caught.value.errors]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=8) | st.sampled_from(["int", "float", "struct", "array", "enum", "text",
                                             "bool", "date", "identifier", "dataType", "specs"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["properties", "events", "services", "identifier",
                                       "dataType", "type", "specs", "min", "max", "item",
                                       "size", "inputData", "outputData", "accessMode",
                                       "length", "name", "0", "1", "x"]) | st.text(max_size=4),
                      children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_arbitrary_json_only_ever_fails_validation(raw):
    for candidate in (raw, json.dumps(raw, allow_nan=True) if raw is not None else None):
        try:
            model = thing_model.parse(candidate)
        except ValidationFailed as exc:
            assert exc.errors and all(e["field"].startswith("thing_model") for e in exc.errors)
        else:
            assert thing_model.parse(model.as_dict()).as_dict() == model.as_dict()


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), JSON, max_size=5))
def test_arbitrary_params_only_ever_fail_validation(params):
    for check in (lambda: thing_model.check_property_set(MODEL, params),
                  lambda: thing_model.check_service_call(MODEL, "so", params)):
        try:
            check()
        except ValidationFailed as exc:
            assert exc.errors


# ---- what a device reports --------------------------------------------------------------

REPORTING = thing_model.parse({
    "properties": [
        {"identifier": "temperature",
         "dataType": {"type": "float", "specs": {"min": -40, "max": 120}}},
        {"identifier": "serial", "accessMode": "r", "dataType": {"type": "text"}},
    ],
    "events": [
        {"identifier": "alarm", "type": "alert", "outputData": [
            {"identifier": "level", "dataType": {"type": "int", "specs": {"max": 3}},
             "required": True},
            {"identifier": "note", "dataType": {"type": "text"}}]},
        "switchon",
    ],
})


def test_a_report_may_carry_read_only_properties():
    thing_model.check_report(REPORTING, {"temperature": 20.5, "serial": "SN-1"})
    thing_model.check_report(REPORTING, {})
    with pytest.raises(ValidationFailed):  # what a caller may not set, a device reports
        thing_model.check_property_set(REPORTING, {"serial": "SN-1"})


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"humidity": 3}, "params.humidity", "unknown property"),
    ({"temperature": "hot"}, "params.temperature", "must be a number (float)"),
    ({"temperature": 121}, "params.temperature", "must be at most 120"),
    ({"serial": 7}, "params.serial", "must be text"),
    ([1], "params", "must be an object"),
])
def test_a_bad_report_names_the_field(params, field, message):
    with pytest.raises(ValidationFailed) as caught:
        thing_model.check_report(REPORTING, params)
    assert {e["field"]: e["message"] for e in caught.value.errors} == {field: message}


def test_a_report_check_can_name_its_root():
    with pytest.raises(ValidationFailed) as caught:
        thing_model.check_report(REPORTING, {"temperature": 500, "x": 1}, field="report")
    assert {e["field"] for e in caught.value.errors} == {"report.temperature", "report.x"}


def test_events_are_checked_against_their_output():
    assert thing_model.check_event(REPORTING, "alarm", {"level": 2, "note": "smoke"}).type == (
        "alert")
    assert thing_model.check_event(REPORTING, "switchon", {"any": [1]}).identifier == "switchon"


@pytest.mark.parametrize(("identifier", "params", "field"), [
    ("fire", {}, "identifier"),
    ("alarm", {}, "params.level"),
    ("alarm", {"level": 4}, "params.level"),
    ("alarm", {"level": 1, "extra": 1}, "params.extra"),
    ("alarm", "loud", "params"),
    ("switchon", None, "params"),
])
def test_a_bad_event_names_the_field(identifier, params, field):
    with pytest.raises(ValidationFailed) as caught:
        thing_model.check_event(REPORTING, identifier, params)
    assert [e["field"] for e in caught.value.errors] == [field]


def test_the_report_checks_are_public():
    import oms_shared

    assert oms_shared.check_report is thing_model.check_report
    assert oms_shared.check_event is thing_model.check_event
