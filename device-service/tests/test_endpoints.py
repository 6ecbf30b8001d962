"""The production and device endpoints through the test client: what an operator does,
in milliseconds. The product is published to the catalog as the product service does."""

from __future__ import annotations

import pytest

from oms_shared import ProductSnapshot
from oms_shared.testing import ApiClient


@pytest.fixture
def api(app) -> ApiClient:
    for product_id, tenant, status in ((10000, "t1", "enable"), (10001, "t1", "disable"),
                                       (10002, "t2", "enable")):
        app.extensions["oms"].catalog.put(ProductSnapshot(
            id=product_id, revision=1, tenant=tenant, name="门铃", product_key=f"pk{product_id}",
            status=status, thing_model={"properties": [], "events": [], "services": []}))
    return ApiClient(app, tenant="t1")


def _submit(api, batch_no="B1", amount=3, product_id=10000):
    return api.data("/oms/produce/submit", {"name": "第 2 次生产", "amount": amount,
                                            "product_id": product_id, "batch_no": batch_no})


def test_a_batch_from_submit_to_stock(api):
    batch = _submit(api, amount=4)
    assert batch["status"] == "pending" and batch["amount"] == 4
    assert api.data("/oms/produce/list")["list"][0]["id"] == batch["id"]
    in_batch = api.data(f"/oms/produce/device/{batch['id']}")
    assert in_batch["total"] == 4 and "device_secret" not in in_batch["list"][0]
    assert api.data("/oms/device/list")["total"] == 0  # pending: not in stock yet
    confirmed = api.data(f"/oms/produce/confirm/{batch['id']}")
    assert confirmed["status"] == "confirmed" and confirmed["confirmed_at"]
    stock = api.data("/oms/device/list", {"batch_no": "B1"})
    assert stock["total"] == 4 and {d["status"] for d in stock["list"]} == {"inactive"}
    api.error(f"/oms/produce/confirm/{batch['id']}", status=409, code=40901)
    api.error(f"/oms/produce/remove/{batch['id']}", status=409, code=40901)


def test_managing_a_device_in_stock(api):
    batch = _submit(api, amount=1)
    api.data(f"/oms/produce/confirm/{batch['id']}")
    [device] = api.data("/oms/device/list")["list"]
    detail = api.data(f"/oms/device/detail/{device['id']}")
    assert len(detail["device_secret"]) == 32 and detail["properties"] == {}
    renamed = api.data(f"/oms/device/update/{device['id']}", {"name": "前门", "remark": "r"})
    assert renamed["name"] == "前门" and renamed["device_name"] == device["device_name"]
    assert api.data(f"/oms/device/disable/{device['id']}")["status"] == "disabled"
    assert api.data("/oms/device/list", {"status": "disabled"})["total"] == 1
    assert api.data(f"/oms/device/enable/{device['id']}")["status"] == "inactive"
    api.data(f"/oms/device/remove/{device['id']}")
    api.error(f"/oms/device/detail/{device['id']}", status=404, code=40401)


def test_another_tenants_batches_and_devices_behave_as_missing(api, app):
    batch = _submit(api)
    api.data(f"/oms/produce/confirm/{batch['id']}")
    device = api.data("/oms/device/list")["list"][0]
    other = ApiClient(app, tenant="t2")
    for path in ("detail", "update", "confirm", "remove", "device", "download"):
        other.error(f"/oms/produce/{path}/{batch['id']}", status=404, code=40401)
    for path in ("detail", "update", "disable", "enable", "remove"):
        other.error(f"/oms/device/{path}/{device['id']}", status=404, code=40401)
    other.error("/oms/produce/submit", {"name": "n", "amount": 1, "product_id": 10000,
                                        "batch_no": "X"}, status=404, code=40401)


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "n", "amount": 0, "product_id": 10000, "batch_no": "B"}, "amount"),
    ({"name": "n", "amount": 100001, "product_id": 10000, "batch_no": "B"}, "amount"),
    ({"name": "n", "amount": 1, "product_id": "10000", "batch_no": "B"}, "product_id"),
    ({"name": "n", "amount": 1, "product_id": 10000, "batch_no": "B 1"}, "batch_no"),
])
def test_bad_submits_name_the_field(api, body, field):
    envelope = api.error("/oms/produce/submit", body, status=400, code=40001)
    assert [e["field"] for e in envelope["data"]["errors"]] == [field]


def test_submit_checks_state_and_duplicates(api):
    api.error("/oms/produce/submit", {"name": "n", "amount": 1, "product_id": 10001,
                                      "batch_no": "D"}, status=409, code=40901)
    _submit(api, batch_no="DUP")
    envelope = api.error("/oms/produce/submit", {"name": "n", "amount": 1, "product_id": 10000,
                                                 "batch_no": "DUP"}, status=409, code=40900)
    assert envelope["data"] == {"field": "batch_no"}


def test_internal_counts(api):
    _submit(api, amount=2)
    assert api.data("/internal/device/counts", {"product_ids": [10000, 10002]}) == {
        "counts": {"10000": 2, "10002": 0}}


def test_internal_brief_answers_only_the_callers_devices(api, app):
    batch = _submit(api, amount=2)
    ids = [d["id"] for d in api.data(f"/oms/produce/device/{batch['id']}")["list"]]
    brief = api.data("/internal/device/brief", {"device_ids": [*ids, "nope"]})["devices"]
    assert sorted(d["id"] for d in brief) == sorted(ids)
    assert {d["status"] for d in brief} == {"produced"}
    assert set(brief[0]) == {"id", "name", "device_name", "product_id", "product_key", "status"}
    other = ApiClient(app, tenant="t2")
    assert other.data("/internal/device/brief", {"device_ids": ids}) == {"devices": []}
