from __future__ import annotations

import json
import time

import pytest

from oms_shared import SERVICE_NAMES, Registry
from oms_shared.testing import token_for
from system_service.app import create_app

SECRETS = ("pg-password-1", "redis-password-2", "broker-password-3")


@pytest.fixture
def app(base_config):
    config = {
        **base_config,
        "heartbeat_interval": 0.2,
        "down_after": 1.0,
        "product": {"database_url": f"postgresql://oms:{SECRETS[0]}@db.internal:5432/product"},
        "broker": {"url": f"mqtt://dev:{SECRETS[2]}@broker.internal:1883"},
    }
    return create_app(config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def headers(app):
    """An operator app's token: the system endpoints are the platform's."""
    return {"Token": token_for(app, app_id="operator-app", scope="operator")}


def test_setting_info_shows_the_configuration(client, headers):
    data = client.post("/pms/system/setting/info", headers=headers).get_json()["data"]
    assert data["bind_address"] == "0.0.0.0:36002"
    assert data["token"] == {"lifetime_seconds": 7200, "timestamp_window_seconds": 300}
    assert data["storage"]["product"] == {"kind": "postgresql", "host": "db.internal:5432"}
    assert data["storage"]["auth"]["kind"] == "sqlite"
    assert data["broker"] == {"kind": "mqtt", "host": "broker.internal:1883"}


def test_setting_info_shows_no_secret(app, client, headers):
    text = client.post("/pms/system/setting/info", headers=headers).get_data(as_text=True)
    for secret in (*SECRETS, app.extensions["oms"].settings.jwt.secret.get_secret_value()):
        assert secret not in text


def test_setting_info_needs_a_token(client):
    assert client.post("/pms/system/setting/info").get_json()["code"] == 40100


@pytest.mark.parametrize("path", ["/pms/system/setting/info", "/pms/system/service/list"])
def test_a_tenant_apps_token_is_refused_with_40300(app, client, path):
    response = client.post(path, headers={"Token": token_for(app, app_id="tenant-app")})
    assert (response.status_code, response.get_json()["code"]) == (403, 40300)
    assert "0.0.0.0" not in response.get_data(as_text=True)


def test_service_list_judges_instances_by_their_heartbeat(app, client, headers, redis_client):
    keys = app.extensions["oms"].keys
    registry = Registry(redis_client, keys)
    registry.beat("product", "10.1.1.1:8000", "1.2.3", time.time())
    stale = {"version": "1.2.3", "started_at": time.time() - 60, "last_seen": time.time() - 30,
             "stopped": False}
    redis_client.hset(keys.registry("product"), "10.1.1.2:8000", json.dumps(stale))
    data = client.post("/pms/system/service/list", headers=headers).get_json()["data"]
    assert [s["name"] for s in data["list"]] == list(SERVICE_NAMES)  # the table's order
    product = next(s for s in data["list"] if s["name"] == "product")
    assert product["status"] == "up"
    statuses = {i["address"]: i["status"] for i in product["instances"]}
    assert statuses == {"10.1.1.1:8000": "up", "10.1.1.2:8000": "down"}
    instance = product["instances"][0]
    assert set(instance) == {"address", "status", "version", "started_at", "last_seen"}
    registry.mark_stopped("product", "10.1.1.1:8000")
    data = client.post("/pms/system/service/list", headers=headers).get_json()["data"]
    assert next(s for s in data["list"] if s["name"] == "product")["status"] == "down"
