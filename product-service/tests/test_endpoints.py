"""The product endpoints through the test client, with the device service a real peer
over HTTP (for device counts), in milliseconds rather than the end-to-end stack's
seconds."""

from __future__ import annotations

from typing import Any

import pytest

from device_service.app import create_app as create_device_app
from oms_shared import ProductSnapshot
from oms_shared.testing import ApiClient, app_in_transaction, serving
from product_service.app import create_app

SEED_ADD = {"name": "门铃", "code": "4110025469", "thing_model": '{"events": ["switchon"]}',
            "product_key": "c107ef2483d5211fe5f532afb5c764e6",
            "product_secret": "f8d70127a0934798f9be1d72b883d840"}


@pytest.fixture
def device_app(base_config: dict[str, Any], tmp_path):
    app = create_device_app({**base_config,
                             "device": {"database_url": f"sqlite:///{tmp_path / 'device.db'}"}})
    app.extensions["oms_db"].create_all()
    yield app
    app.extensions["oms_db"].engine.dispose()


@pytest.fixture
def app(base_config: dict[str, Any], database_url: str, device_app):
    with serving(device_app) as device_url:
        config = {**base_config, "product": {"database_url": database_url},
                  "device": {"url": device_url}}
        with app_in_transaction(create_app, config) as app:
            yield app


@pytest.fixture
def api(app) -> ApiClient:
    return ApiClient(app, tenant="t1")


def test_add_detail_list_update_remove(api):
    made = api.data("/oms/product/add", SEED_ADD)
    assert made["id"] >= 10000 and made["device_count"] == 0
    assert made["thing_model"]["events"][0] == {"identifier": "switchon", "name": "switchon",
                                                "type": "info"}
    assert api.data(f"/oms/product/detail/{made['id']}")["product_secret"] == \
        SEED_ADD["product_secret"]
    listed = api.data("/oms/product/list", {"page_size": 10})
    assert listed["total"] == 1 and "product_secret" not in listed["list"][0]
    updated = api.data(f"/oms/product/update/{made['id']}", {"name": "门铃 2"})
    assert updated["name"] == "门铃 2" and "product_secret" not in updated
    assert api.data(f"/oms/product/remove/{made['id']}") is None
    api.error(f"/oms/product/detail/{made['id']}", status=404, code=40401)


def test_device_counts_come_from_the_device_service(api, device_app):
    made = api.data("/oms/product/add", {"name": "lamp", "code": "lamp"})
    device_app.extensions["oms"].catalog.put(ProductSnapshot(
        id=made["id"], revision=1, tenant="t1", name="lamp", product_key=made["product_key"],
        status="enable", thing_model=made["thing_model"]))
    ApiClient(device_app, tenant="t1").data("/oms/produce/submit", {
        "name": "run", "amount": 3, "product_id": made["id"], "batch_no": "B1"})
    assert api.data(f"/oms/product/detail/{made['id']}")["device_count"] == 3
    assert api.data("/oms/product/list")["list"][0]["device_count"] == 3
    api.error(f"/oms/product/remove/{made['id']}", status=409, code=40901)


def test_another_tenants_product_behaves_as_missing(api, app):
    made = api.data("/oms/product/add", {"name": "lamp", "code": "lamp"})
    other = ApiClient(app, tenant="t2")
    for path in ("detail", "update", "remove"):
        other.error(f"/oms/product/{path}/{made['id']}", status=404, code=40401)
    assert other.data("/oms/product/list")["total"] == 0


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x"}, "code"),
    ({"name": "x", "code": "has space"}, "code"),
    ({"name": "x", "code": "c", "thing_model": "{not json"}, "thing_model"),
    ({"name": "x", "code": "c", "colour": "red"}, "colour"),
])
def test_bad_bodies_name_the_field(api, body, field):
    envelope = api.error("/oms/product/add", body, status=400, code=40001)
    assert field in [e["field"] for e in envelope["data"]["errors"]]


def test_duplicates_are_409(api):
    api.data("/oms/product/add", {"name": "a", "code": "same"})
    envelope = api.error("/oms/product/add", {"name": "b", "code": "same"}, status=409,
                         code=40900)
    assert envelope["data"] == {"field": "code"}
