"""Producing devices through the real gateway: the seed's examples (§2.1-2.12)."""

from __future__ import annotations

import csv
import io
import re

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def product(caller):
    return caller.data("/oms/product/add", {"name": "门铃", "code": "prod-e2e",
                                            "thing_model": '{"events": ["switchon"]}'})


@pytest.fixture(scope="module")
def batch(caller, product):
    """§2.5 as written, with the product that exists."""
    body = {"name": "第 2 次生产", "amount": 1, "product_id": product["id"],
            "batch_no": "B255422152365489990", "remark": "对接坪山某公司 01"}
    return caller.data("/oms/produce/submit", body)


def _error(response, status, code):
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    return response.json()


def test_submit_as_in_the_seed(batch, product):
    assert batch["status"] == "pending"
    assert batch["amount"] == 1 and batch["product_id"] == product["id"]
    assert batch["confirmed_at"] is None


def test_list_detail_update_as_in_the_seed(caller, batch, product):
    listed = caller.data("/oms/produce/list", {"name": "1 次", "batch_no": "A255422152365489930",
                                              "product_id": product["id"]})
    assert listed["total"] == 0  # the seed's filters match nothing here
    listed = caller.data("/oms/produce/list", {"name": "2 次", "product_id": product["id"]})
    assert [b["id"] for b in listed["list"]] == [batch["id"]]
    assert caller.data(f"/oms/produce/detail/{batch['id']}", {})["batch_no"] == batch["batch_no"]
    updated = caller.data(f"/oms/produce/update/{batch['id']}", {"remark": "对接坪山公司, 哈哈"})
    assert updated["remark"] == "对接坪山公司, 哈哈"


def test_pending_devices_are_not_in_stock_until_confirmed(caller, batch, product):
    devices = caller.data(f"/oms/produce/device/{batch['id']}", {})
    assert devices["total"] == 1
    assert "device_secret" not in devices["list"][0]
    assert caller.data("/oms/device/list", {"product_id": product["id"]})["total"] == 0
    confirmed = caller.data(f"/oms/produce/confirm/{batch['id']}", {})
    assert confirmed["status"] == "confirmed" and confirmed["confirmed_at"]
    stocked = caller.data("/oms/device/list", {"product_id": product["id"]})
    assert stocked["total"] == 1
    assert stocked["list"][0]["status"] == "inactive"
    _error(caller.post(f"/oms/produce/confirm/{batch['id']}"), 409, 40901)
    _error(caller.post(f"/oms/produce/remove/{batch['id']}"), 409, 40901)
    assert caller.data(f"/oms/product/detail/{product['id']}")["device_count"] == 1
    _error(caller.post(f"/oms/product/remove/{product['id']}"), 409, 40901)


def test_device_update_detail_remove_as_in_the_seed(caller, product):
    made = caller.data("/oms/produce/submit", {"name": "n", "amount": 2, "batch_no": "DEV-1",
                                               "product_id": product["id"]})
    caller.data(f"/oms/produce/confirm/{made['id']}", {})
    device = caller.data("/oms/device/list", {"batch_no": "DEV-1"})["list"][0]
    assert "device_secret" not in device
    renamed = caller.data(f"/oms/device/update/{device['id']}", {"name": "我的小可爱"})
    assert renamed["name"] == "我的小可爱"
    detail = caller.data(f"/oms/device/detail/{device['id']}", {})
    assert re.fullmatch(r"[0-9a-f]{32}", detail["device_secret"])
    assert detail["properties"] == {}
    assert caller.data("/oms/device/list", {"name": "小可爱"})["list"][0]["id"] == device["id"]
    assert caller.data(f"/oms/device/disable/{device['id']}", {})["status"] == "disabled"
    assert caller.data("/oms/device/list", {"status": "disabled"})["total"] == 1
    assert caller.data(f"/oms/device/enable/{device['id']}", {})["status"] == "inactive"
    assert caller.data(f"/oms/device/remove/{device['id']}", {}) is None
    _error(caller.post(f"/oms/device/detail/{device['id']}"), 404, 40401)


def test_download_is_a_streamed_csv(caller, product):
    made = caller.data("/oms/produce/submit", {"name": "csv", "amount": 25, "batch_no": "CSV-1",
                                               "product_id": product["id"]})
    response = caller.post(f"/oms/produce/download/{made['id']}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers.get("X-Request-ID")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["device_id", "product_key", "device_name", "device_secret", "batch_no"]
    assert len(rows) == 26
    assert {r[1] for r in rows[1:]} == {product["product_key"]}


def test_remove_a_pending_batch_takes_its_devices(caller, product):
    made = caller.data("/oms/produce/submit", {"name": "gone", "amount": 3, "batch_no": "GONE-1",
                                               "product_id": product["id"]})
    assert caller.data(f"/oms/produce/remove/{made['id']}", {}) is None
    _error(caller.post(f"/oms/produce/detail/{made['id']}"), 404, 40401)
    _error(caller.post(f"/oms/produce/device/{made['id']}"), 404, 40401)


def test_error_paths(platform, caller, product, batch):
    other = platform.new_caller("tenant-prod")
    _error(other.post(f"/oms/produce/detail/{batch['id']}"), 404, 40401)
    _error(other.post("/oms/produce/detail/999999"), 404, 40401)
    _error(other.post(f"/oms/produce/download/{batch['id']}"), 404, 40401)
    device = caller.data("/oms/device/list", {"product_id": product["id"]})["list"][0]
    _error(other.post(f"/oms/device/detail/{device['id']}"), 404, 40401)
    _error(other.post(f"/oms/device/remove/{device['id']}"), 404, 40401)
    _error(caller.post("/oms/device/detail/no-such-device"), 404, 40401)
    dup = {"name": "again", "amount": 1, "product_id": product["id"],
           "batch_no": batch["batch_no"]}
    body = _error(caller.post("/oms/produce/submit", dup), 409, 40900)
    assert body["data"]["field"] == "batch_no"
    _error(other.post("/oms/produce/submit", {**dup, "batch_no": "OTHER-1"}), 404, 40401)
    _error(caller.post("/oms/produce/submit", {**dup, "batch_no": "X-1", "product_id": 1}),
           404, 40401)
    for amount in (0, 100001):
        body = _error(caller.post("/oms/produce/submit", {**dup, "batch_no": "X-2",
                                                          "amount": amount}), 400, 40001)
        assert body["data"]["errors"][0]["field"] == "amount"


def test_a_disabled_product_cannot_produce(caller):
    made = caller.data("/oms/product/add", {"name": "off", "code": "off-1"})
    caller.data(f"/oms/product/update/{made['id']}", {"status": "disable"})
    _error(caller.post("/oms/produce/submit", {"name": "n", "amount": 1, "batch_no": "OFF-1",
                                               "product_id": made["id"]}), 409, 40901)


def test_a_100000_device_batch(caller, product):
    made = caller.data("/oms/produce/submit", {"name": "big", "amount": 100000,
                                               "batch_no": "BIG-1",
                                               "product_id": product["id"]})
    caller.data(f"/oms/produce/confirm/{made['id']}", {})
    response = caller.post(f"/oms/produce/download/{made['id']}", stream=True)
    lines = response.text.splitlines()
    assert len(lines) == 100001
    rows = list(csv.reader(lines[1:]))
    assert len({r[2] for r in rows}) == 100000
    assert all(re.fullmatch(r"[0-9a-f]{32}", r[3]) for r in rows)
    assert caller.data("/oms/device/list", {"batch_no": "BIG-1", "page_size": 1})["total"] == \
        100000


def test_a_removed_product_cannot_produce(caller):
    made = caller.data("/oms/product/add", {"name": "short-lived", "code": "gone-1"})
    caller.data(f"/oms/product/remove/{made['id']}", {})
    _error(caller.post("/oms/produce/submit", {"name": "n", "amount": 1, "batch_no": "GONE-P",
                                               "product_id": made["id"]}), 404, 40401)


@pytest.mark.parametrize(("path", "body", "status", "code"), [
    ("/oms/produce/detail/99999999999", {}, 404, 40401),
    ("/oms/produce/detail/%C2%B2", {}, 404, 40401),
    ("/oms/product/detail/%D9%A1%D9%A0%D9%A0%D9%A0%D9%A0", {}, 404, 40401),
    ("/oms/produce/list", {"product_id": 99999999999}, 400, 40001),
    ("/oms/device/list", {"product_id": 3000000000}, 400, 40001),
    ("/oms/device/list", {"product_id": 10**20}, 400, 40001),
    ("/oms/product/add", {"name": "a\u0000b", "code": "nul-1"}, 400, 40001),
    ("/oms/produce/submit", {"name": "n", "amount": 1, "batch_no": "x",
                             "product_id": 2**31}, 400, 40001),
])
def test_out_of_range_and_odd_input_never_crashes(caller, path, body, status, code):
    _error(caller.post(path, body), status, code)


def test_a_product_being_produced_cannot_be_removed(platform, caller):
    """The guard across services: a removal while a batch is in flight is refused."""
    import redis as redis_client

    from oms_shared import Keys, ProductGuard

    made = caller.data("/oms/product/add", {"name": "busy", "code": "busy-1"})
    env = platform.stack.child_env
    guard = ProductGuard(redis_client.Redis.from_url(env["OMS_REDIS__URL"]),
                         Keys(env["OMS_REDIS__PREFIX"]))
    guard.start_producing(made["id"])  # what a submit in flight holds
    try:
        body = _error(caller.post(f"/oms/product/remove/{made['id']}"), 409, 40901)
        assert "being produced" in body["message"]
    finally:
        guard.stop_producing(made["id"])
    assert caller.data(f"/oms/product/remove/{made['id']}", {}) is None
    _error(caller.post("/oms/produce/submit", {"name": "n", "amount": 1, "batch_no": "BUSY-1",
                                               "product_id": made["id"]}), 404, 40401)
