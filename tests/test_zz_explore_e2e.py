"""Schemathesis against the running gateway and the OpenAPI document it serves.

Every operation goes through schemathesis' coverage phase (boundaries of every field,
each field missing or of a wrong type, unknown fields, the other methods) and its
fuzzing phase (generated bodies, valid and not); then the stateful phase follows the
document's links (a product added, a batch of it submitted, the batch's devices, users
and groups made and used by their ids). Each answer is checked: no server error, the
status is one the operation documents, the content type is the documented one, and the
body conforms to the documented schema (an envelope with a code of that status, or the
credentials CSV). A planted server error shows the checks are live.

It runs as a tenant of its own on the shared platform, with a token in
``Authorization: Bearer``. Examples are bounded (``EXAMPLES`` per operation in fuzzing,
``COVERAGE_PER_SCENARIO`` of each kind in coverage, ``SUITES`` of ``SCENARIOS`` stateful
scenarios of up to ``STEPS`` calls) so that the module takes a few minutes on two cores;
the coverage and fuzzing phases are deterministic, so a failure repeats.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Annotated, Any

import hypothesis
import pytest
import schemathesis
from flask import Flask, jsonify
from hypothesis import given
from hypothesis.errors import FlakyStrategyDefinition
from pydantic import Field
from schemathesis.errors import FailureGroup

from oms_shared import Api, Integer, Schema, build_openapi, public
from oms_shared.testing import serving

pytestmark = pytest.mark.e2e

EXAMPLES = 60
COVERAGE_PER_SCENARIO = 400
SUITES = 12
SCENARIOS = 8
STEPS = 8
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")


@schemathesis.deserializer("text/csv")
def _csv(ctx: Any, response: Any) -> str:
    """The credentials CSV as its text, for the documented schema (a header line and rows
    of five fields)."""
    return response.content.decode()


def suite_config(base_url: str, token: str | None) -> schemathesis.Config:
    """What the suite runs schemathesis with: these checks only, every phase but the
    examples (the document has none), a bounded number of examples."""
    checks: dict[str, Any] = {"enabled": False, **{name: {"enabled": True} for name in CHECKS}}
    return schemathesis.Config.from_dict({
        "base-url": base_url,
        "headers": {"Authorization": f"Bearer {token}"} if token else {},
        "request-timeout": 30,
        # under the platform's quota of 100 requests a second per app (quota.*): a 429 is
        # documented, but it tests nothing
        "rate-limit": "80/s",
        "checks": checks,
        # the token is the suite's (above): no made-up values for the security schemes
        "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": False,
                       "database": "none", "with-security-parameters": False},
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True},
                   # valid requests, so that a scenario goes on from what it made; only the
                   # document's links: every operation is a POST, which schemathesis takes
                   # for a creation, so links it infers start scenarios at random ids
                   "stateful": {"enabled": True, "max-steps": STEPS,
                                "inference": {"algorithms": []},
                                "generation": {"mode": "positive"}}},
        "suppress-health-check": ["all"],
    })


def load(url: str, token: str | None) -> Any:
    return schemathesis.openapi.from_url(f"{url}/openapi.json",
                                         config=suite_config(url, token))


def exercise(case: Any) -> None:
    """One generated request: sent, and its answer checked."""
    case.call_and_validate()


@pytest.fixture(scope="module")
def tenant(platform: Any) -> Any:
    return platform.new_caller("schemathesis")


@pytest.fixture(scope="module")
def api_schema(platform: Any, tenant: Any) -> Any:
    loaded = load(platform.url, tenant.token)
    bound_coverage(loaded)
    return loaded


def bound_coverage(loaded: Any) -> None:
    """At most ``COVERAGE_PER_SCENARIO`` coverage cases of each kind (a wrong type, a
    missing field, a string too long...) per operation and mode, in schemathesis' order,
    which walks a body from its top-level fields down. Without it the thing model's
    nested data types make 5,000 cases each for product add and update; the model's
    depths are the unit tests' (shared/tests/test_thing_model.py) and the fuzzing's."""
    seen: Counter[tuple[str, str, str]] = Counter()

    @loaded.hook
    def filter_case(context: Any, case: Any) -> bool:
        scenario = getattr(case.meta.phase.data, "scenario", None) if case.meta else None
        if scenario is None:  # not a coverage case
            return True
        key = (case.operation.label, str(case.meta.generation.mode), str(scenario))
        seen[key] += 1
        return seen[key] <= COVERAGE_PER_SCENARIO


@pytest.fixture(autouse=True)
def _node_id(request: pytest.FixtureRequest) -> None:
    """schemathesis (4.32) names each operation's run through the item's ``_nodeid``,
    which pytest 9.2 no longer has (its id is ``_id``): give it the attribute it reads."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation(case: Any) -> None:
    """The coverage and fuzzing phases, per operation."""
    exercise(case)


def test_stateful_links(api_schema: Any) -> None:
    """The stateful phase: scenarios that follow the document's links, so the ids used
    are ones the platform made (a product, its batch, the batch's devices, a user, a
    group...), each answer checked as above.

    Run as schemathesis' own runner runs it: in suites, each with its seed and its order
    of the rules that start a scenario (Hypothesis favours the first), so that each
    creation gets its turn. Hypothesis replays a choice of steps expecting the same
    answers, but the platform's data has moved on meanwhile (a code an earlier scenario
    took), so a replay may diverge (``FlakyStrategyDefinition``): the runner ends that
    suite with the scenarios run so far, and so does this test. A check that fails is a
    ``FailureGroup``, which is never caught."""
    base = api_schema.as_state_machine()
    finished: list[int] = []
    answered: Counter[tuple[str, int]] = Counter()

    class Machine(base):  # type: ignore[misc, valid-type]
        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            answered[case.operation.label, response.status_code] += 1

        def teardown(self) -> None:
            finished.append(1)
            super().teardown()

    for suite in range(SUITES):
        Machine.rule_order_seed = suite
        before = len(finished)
        try:
            hypothesis.seed(suite)(Machine).run(settings=hypothesis.settings(
                max_examples=SCENARIOS, stateful_step_count=STEPS, deadline=None,
                database=None, suppress_health_check=list(hypothesis.HealthCheck),
                phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink]))
        except FlakyStrategyDefinition:
            assert len(finished) > before, f"suite {suite} ended before its first scenario"
    made = {label for (label, status), _ in answered.items() if status == 200}
    summary = ", ".join(f"{label} {status}: {n}" for (label, status), n in sorted(
        answered.items()))
    assert len(finished) >= SUITES * SCENARIOS // 2, (len(finished), summary)
    # the links were followed: a product was made, a batch of it, the batch's devices read
    assert {"POST /oms/product/add", "POST /oms/produce/submit",
            "POST /oms/produce/device/{batch_id}"} <= made, summary


# ---- the checks are live ------------------------------------------------------------------


class Size(Schema):
    size: Annotated[Integer, Field(ge=0, le=100)] = 0


def planted_app(config: dict[str, Any]) -> Flask:
    """An app built as the services are (the common library's ``Api`` and document),
    with one endpoint that fails with a 500 (code 50000, an envelope the document
    lists) for sizes over 50."""
    from oms_shared import OMS

    app = Flask("planted")
    OMS().init_app(app, service="system", config=config)
    api = Api("planted", __name__)

    @api.post("/oms/planted/echo", body=Size, returns=Size, public=True)
    def echo(body: Size) -> Size:
        """Echo the size; a planted defect for sizes over 50."""
        if body.size > 50:
            raise RuntimeError("planted")
        return body

    app.register_blueprint(api.blueprint)

    @public
    def document() -> Any:
        return jsonify(build_openapi([app], version="planted"))

    app.add_url_rule("/openapi.json", view_func=document, methods=["GET"])
    return app


@pytest.fixture
def planted_url(base_config: dict[str, Any]) -> Iterator[str]:
    with serving(planted_app(base_config)) as url:
        yield url


def test_a_planted_server_error_is_reported(planted_url: str) -> None:
    """The suite's configuration and check, against an endpoint that answers 500 for some
    bodies: schemathesis reports the server error (and nothing else, so the other
    checks pass an endpoint that keeps its document)."""
    operation = load(planted_url, None)["/oms/planted/echo"]["POST"]
    reported: list[tuple[int, str]] = []

    @hypothesis.settings(max_examples=50, derandomize=True, database=None, deadline=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        try:
            exercise(case)
        except FailureGroup as group:
            size = case.body.get("size", 0) if isinstance(case.body, dict) else 0
            reported.extend((size, type(failure).__name__) for failure in group.exceptions)

    run()
    assert reported, "schemathesis did not report the planted 500"
    assert {name for _, name in reported} == {"ServerError"}, reported
    assert all(size > 50 for size, _ in reported), reported
