"""Every row of the service table makes an app: its factory takes its config, it reports
itself healthy, and a path under its routes that is not an endpoint (every path of a
service whose endpoints are not built yet) is an envelope, 404/40400."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from oms_shared import SERVICES, ServiceSpec
from oms_shared.testing import ApiClient


@pytest.fixture(params=SERVICES, ids=lambda spec: spec.name)
def service_app(request, base_config: dict[str, Any], tmp_path):
    spec: ServiceSpec = request.param
    config = {**base_config, "service_timeout": 2,
              spec.name: {"database_url": f"sqlite:///{tmp_path / 'db.sqlite'}"}}
    app = importlib.import_module(spec.app_module).create_app(config)
    yield spec, app
    database = app.extensions.get("oms_db")
    if database is not None:
        database.engine.dispose()


def test_the_factory_takes_its_config(service_app):
    spec, app = service_app
    assert app.extensions["oms"].service == spec.name
    assert app.extensions["oms"].settings.service_timeout == 2
    assert ("oms_db" in app.extensions) == spec.database


def test_it_is_healthy(service_app):
    _, app = service_app
    assert app.test_client().get("/healthz").status_code == 200


def test_an_unknown_path_under_its_routes_is_40400(service_app):
    spec, app = service_app
    for prefix in spec.routes:
        envelope = ApiClient(app).error(f"{prefix}no/such/endpoint", status=404, code=40400)
        assert envelope["message"] == "no such endpoint" and envelope["request_id"]
