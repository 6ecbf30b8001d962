"""Group devices: stocked devices of the tenant (checked with the device service in one
call, up to 1,000 ids) join a group."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask

from oms_shared.testing import ApiClient


@pytest.fixture
def group(api, user) -> dict:
    return api.data("/oms/group/add", {"name": "g", "owner_id": user()})


def test_add_one_device_again_and_remove_it(api, group, devices):
    [device] = devices(1)
    path = f"/oms/group/device/add/{group['id']}"
    assert api.data(path, {"device_id": device}) == {"added": [device], "existing": [],
                                                     "unknown": []}
    assert api.data(path, {"device_id": device}) == {"added": [], "existing": [device],
                                                     "unknown": []}
    assert api.data(f"/oms/group/detail/{group['id']}")["device_count"] == 1
    removed = api.data(f"/oms/group/device/remove/{group['id']}", {"device_id": device})
    assert removed == {"removed": [device], "absent": []}
    envelope = api.error(f"/oms/group/device/remove/{group['id']}", {"device_id": device},
                         status=404, code=40401)
    assert "device" in envelope["message"]
    assert api.data(f"/oms/group/detail/{group['id']}")["device_count"] == 0


def test_only_stocked_devices_of_the_tenant_can_join(api, group, devices):
    [pending] = devices(1, stock=False)
    [foreign] = devices(1, tenant="t2")
    for device in (pending, foreign, str(uuid.uuid4()), "d" * 64, "d/e"):
        envelope = api.error(f"/oms/group/device/add/{group['id']}", {"device_id": device},
                             status=404, code=40401)
        assert "device" in envelope["message"]
    assert api.data(f"/oms/group/detail/{group['id']}")["device_count"] == 0


def test_a_thousand_devices_in_one_call(api, group, devices, device_calls):
    stocked = devices(980)
    [pending] = devices(1, stock=False)
    [foreign] = devices(1, tenant="t2")
    path = f"/oms/group/device/add/{group['id']}"
    earlier = api.data(path, {"device_ids": stocked[:10]})["added"]
    unknown = [pending, foreign] + [str(uuid.uuid4()) for _ in range(12)] + ["z" * 40]
    ids = stocked + unknown
    device_calls.clear()
    answer = api.data(path, {"device_ids": ids + stocked[:5]})  # 1,000; repeats count once
    assert device_calls == ["/internal/device/brief"]
    assert answer == {"added": stocked[10:], "existing": earlier, "unknown": unknown}
    assert api.data(f"/oms/group/detail/{group['id']}")["device_count"] == 980
    assert api.data(path, {"device_ids": ids})["added"] == []
    page = api.data(f"/oms/group/device/{group['id']}", {"page": 10, "page_size": 100})
    assert page["total"] == 980 and len(page["list"]) == 80
    removed = api.data(f"/oms/group/device/remove/{group['id']}", {"device_ids": ids})
    assert removed == {"removed": stocked, "absent": unknown}
    assert api.data(f"/oms/group/detail/{group['id']}")["device_count"] == 0


def test_the_device_page(api, group, devices, device_app: Flask, device_calls):
    first, second, third = devices(3)
    path = f"/oms/group/device/add/{group['id']}"
    api.data(path, {"device_id": first})
    api.data(path, {"device_ids": [second, third]})
    ApiClient(device_app, tenant="t1").data(f"/oms/device/update/{first}", {"name": "前门"})
    device_calls.clear()
    page = api.data(f"/oms/group/device/{group['id']}", {"page_size": 20})
    assert device_calls == ["/internal/device/brief"]  # one call for the page
    assert page["total"] == 3
    assert {d["device_id"] for d in page["list"][:2]} == {second, third}  # newest first
    item = page["list"][2]
    assert item["device_id"] == first and item["name"] == "前门"
    assert item["device_name"] and item["product_key"] == "pk10000"
    assert item["status"] == "inactive" and item["added_at"]
    # gone from the device service, its removal not applied here yet: null fields
    ApiClient(device_app, tenant="t1").data(f"/oms/device/remove/{first}")
    item = api.data(f"/oms/group/device/{group['id']}")["list"][2]
    assert (item["device_id"], item["name"], item["status"]) == (first, None, None)
    assert api.data(f"/oms/group/device/{group['id']}", {"page": 3, "page_size": 1})[
        "list"][0]["device_id"] == first


def test_removing_many_answers_what_was_absent(api, group, devices):
    a, b = devices(2)
    api.data(f"/oms/group/device/add/{group['id']}", {"device_ids": [a]})
    missing = str(uuid.uuid4())
    answer = api.data(f"/oms/group/device/remove/{group['id']}",
                      {"device_ids": [missing, a, b]})
    assert answer == {"removed": [a], "absent": [missing, b]}
