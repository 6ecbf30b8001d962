"""Operators apart from tenants, through the real gateway: the platform's own endpoints
(``/pms/system``: internal addresses, ports, environment) answer operator apps only. A
tenant app made with ``oms-apps create`` is refused 403/40300 on every one of them; the
default app ``oms-stack`` bootstraps and an app made with ``--operator`` are served."""

from __future__ import annotations

import json

import pytest

from oms_shared import SERVICES

pytestmark = pytest.mark.e2e


def _system_paths(platform) -> list[str]:
    """Every endpoint under /pms/system (from the OpenAPI document the gateway serves), so
    a new one cannot slip past this test."""
    document = platform.default_caller().http.get(f"{platform.url}/openapi.json",
                                                  timeout=10).json()
    prefixes = next(spec.routes for spec in SERVICES if spec.name == "system")
    paths = sorted(p for p in document["paths"] if p.startswith(prefixes))
    assert {"/pms/system/setting/info", "/pms/system/service/list"} <= set(paths)
    return paths


def test_a_tenant_app_is_refused_on_every_system_endpoint(platform):
    tenant = platform.new_caller("scoped-tenant")
    for path in _system_paths(platform):
        response = tenant.post(path)
        assert response.status_code == 403, (path, response.text)
        body = response.json()
        assert body["code"] == 40300 and body["request_id"] == response.headers["X-Request-ID"]
        assert "127.0.0.1" not in response.text and "bind_address" not in response.text
    assert tenant.post("/oms/product/list").json()["code"] == 0  # its own data, as before


def test_operator_apps_are_served(platform):
    bootstrapped = platform.default_caller()
    operator = platform.new_caller("ops", operator=True)  # oms-apps create --operator
    for caller in (bootstrapped, operator):
        for path in _system_paths(platform):
            response = caller.post(path)
            assert response.status_code == 200 and response.json()["code"] == 0, path
    listed = {row["app_id"]: row["scope"] for row in json.loads(platform.apps("list", "--json"))}
    assert listed[operator.app_id] == listed[bootstrapped.app_id] == "operator"
