"""The group service runs, reports itself healthy, and answers its routes with an
envelope while its endpoints are not built."""

from __future__ import annotations

import pytest

from group_service.app import create_app
from oms_shared.testing import ApiClient


@pytest.fixture
def app(base_config):
    return create_app(base_config)


def test_the_factory_takes_its_config(base_config):
    app = create_app({**base_config, "service_timeout": 2})
    assert app.extensions["oms"].service == "group"
    assert app.extensions["oms"].settings.service_timeout == 2


def test_it_is_healthy(app):
    assert app.test_client().get("/healthz").status_code == 200
    assert app.test_client().get("/readyz").status_code == 200


def test_unbuilt_endpoints_answer_40400(app):
    envelope = ApiClient(app).error("/oms/group/list", status=404, code=40400)
    assert envelope["message"] == "no such endpoint" and envelope["request_id"]
