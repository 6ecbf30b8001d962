"""Every row of the service table makes an app: its factory takes its config, it reports
itself healthy, and a path under its routes that is not an endpoint (every path of a
service whose endpoints are not built yet) is an envelope, 404/40400."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

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


def _path(rule: str) -> str:
    return rule.replace("<", "").replace(">", "").replace(":", "")  # an id-like segment


def _an_endpoint(app, path: str) -> bool:
    """The path is an endpoint's as it stands (a redirect to one is not)."""
    try:
        app.url_map.bind("x").match(path, method="POST")
    except (HTTPException, RequestRedirect):
        return False
    return True


def _variants(rule: str) -> list[str]:
    """Spellings of an endpoint's path that are not that path: slashes doubled at each
    place, a final slash, the path with a segment cut off (a rule's "directory")."""
    path = _path(rule)
    parts = path.split("/")
    doubled = ["/".join(parts[:i]) + "//" + "/".join(parts[i:]) for i in range(1, len(parts))]
    return [*doubled, path + "/", path + "//", path.rsplit("/", 1)[0], path.rsplit("/", 1)[0] + "/"]


def test_no_spelling_of_a_path_is_redirected(service_app):
    """werkzeug redirected "/oms/product//list" (merged slashes) with a 308 to a URL built
    from the caller's Host; now every spelling that is not an endpoint is 404/40400, and
    no answer names the caller's Host (docs/security.md, hostile callers 2)."""
    _, app = service_app
    client = ApiClient(app)
    rules = [r.rule for r in app.url_map.iter_rules() if r.rule.startswith(("/oms/", "/pms/"))]
    assert rules
    for rule in rules:
        for path in _variants(rule):
            if _an_endpoint(app, path):
                continue  # another endpoint's own path ("/oms/group/member/add" is one)
            response = client.post(path, headers={"Host": "evil.example"})
            assert response.status_code == 404, (path, response.status_code)
            assert "Location" not in response.headers, path
            assert b"evil.example" not in response.data, path
            assert response.get_json()["code"] == 40400, path
