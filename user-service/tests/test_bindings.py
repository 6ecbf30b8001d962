"""Bindings (§4.5, §2.15, bind/unbind extensions) and the internal bindings endpoint,
with the device service a real peer."""

from __future__ import annotations

import json

import pytest

from oms_shared.testing import ApiClient

BRIEF = "/internal/device/brief"


@pytest.fixture
def ann(add_user):
    return add_user("ann", nickname="Ann")


@pytest.fixture
def bob(add_user):
    return add_user("bob")


def test_bind_list_unbind(api, ann, stock):
    device = stock()[0]
    bound = api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device})
    assert set(bound) == {"user_id", "device_id", "role", "bound_at"}
    assert (bound["user_id"], bound["device_id"], bound["role"]) == (ann["id"], device, "member")
    page = api.data(f"/oms/user/device/{ann['id']}")
    assert page["total"] == 1
    row = page["list"][0]
    assert row["device_id"] == device and row["role"] == "member"
    assert row["bound_at"] == bound["bound_at"] and row["status"] == "inactive"
    assert row["product_key"].startswith("key") and row["name"] and row["device_name"]
    members = api.data(f"/oms/device/member/{device}")
    assert members["list"] == [{"user_id": ann["id"], "username": "ann", "nickname": "Ann",
                                "status": "enable", "role": "member",
                                "bound_at": bound["bound_at"]}]
    assert api.data("/oms/user/unbind", {"user_id": ann["id"], "device_id": device}) is None
    assert api.data(f"/oms/user/device/{ann['id']}")["total"] == 0
    assert api.data(f"/oms/device/member/{device}")["total"] == 0
    envelope = api.error("/oms/user/unbind", {"user_id": ann["id"], "device_id": device},
                         status=404, code=40401)
    assert "binding" in envelope["message"]


def test_binding_again_returns_it_unchanged_and_another_role_changes_it(api, ann, stock):
    device = stock()[0]
    first = api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device,
                                        "role": "owner"})
    again = api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device,
                                        "role": "owner"})
    assert again == first
    member = api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device})
    assert member["role"] == "member" and member["bound_at"] == first["bound_at"]
    assert api.data(f"/oms/user/device/{ann['id']}")["total"] == 1


def test_a_second_owner_is_40901_naming_the_current_owner(api, ann, bob, stock):
    device = stock()[0]
    api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device, "role": "owner"})
    envelope = api.error("/oms/user/bind", {"user_id": bob["id"], "device_id": device,
                                            "role": "owner"}, status=409, code=40901)
    assert envelope["data"] == {"owner_id": ann["id"]}
    api.data("/oms/user/bind", {"user_id": bob["id"], "device_id": device})  # member: fine
    envelope = api.error("/oms/user/bind", {"user_id": bob["id"], "device_id": device,
                                            "role": "owner"}, status=409, code=40901)
    assert envelope["data"] == {"owner_id": ann["id"]}
    api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device})  # ann steps down
    assert api.data("/oms/user/bind", {"user_id": bob["id"], "device_id": device,
                                       "role": "owner"})["role"] == "owner"


def test_devices_that_are_unknown_pending_or_another_tenants_are_40401(api, ann, stock):
    pending = stock(confirm=False)[0]
    foreign = stock(tenant="t2")[0]
    for device in (pending, foreign, "00000000-0000-0000-0000-000000000000", "d" * 64):
        api.error("/oms/user/bind", {"user_id": ann["id"], "device_id": device},
                  status=404, code=40401)
    api.error(f"/oms/device/member/{foreign}", status=404, code=40401)
    api.error(f"/oms/device/member/{'d' * 300}", status=404, code=40401)
    assert api.data(f"/oms/device/member/{pending}")["total"] == 0  # exists: no members
    assert api.data(f"/oms/user/device/{ann['id']}")["total"] == 0


def test_unknown_or_another_tenants_user_is_40401(api, app, ann, stock):
    device = stock()[0]
    t2 = ApiClient(app, tenant="t2")
    stranger = t2.data("/oms/user/add", {"username": "eve", "password": "123456"})
    for user_id in (stranger["id"], "00000000-0000-0000-0000-000000000000", "u" * 64):
        envelope = api.error("/oms/user/bind", {"user_id": user_id, "device_id": device},
                             status=404, code=40401)
        assert "user" in envelope["message"]
        api.error("/oms/user/unbind", {"user_id": user_id, "device_id": device},
                  status=404, code=40401)
    api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device})
    # t2 sees nothing of t1's binding, and cannot undo it
    t2.error("/oms/user/bind", {"user_id": ann["id"], "device_id": device},
             status=404, code=40401)
    t2.error("/oms/user/unbind", {"user_id": ann["id"], "device_id": device},
             status=404, code=40401)
    t2.error(f"/oms/user/device/{ann['id']}", status=404, code=40401)
    t2.error(f"/oms/device/member/{device}", status=404, code=40401)
    assert t2.data(f"/internal/user/bindings/{device}") == {"bindings": {}}
    assert api.data(f"/internal/user/bindings/{device}") == {"bindings": {ann["id"]: "member"}}


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/oms/user/bind", {"device_id": "d"}, "user_id"),
    ("/oms/user/bind", {"user_id": "u"}, "device_id"),
    ("/oms/user/bind", {"user_id": "u", "device_id": "d", "role": "admin"}, "role"),
    ("/oms/user/bind", {"user_id": 5, "device_id": "d"}, "user_id"),
    ("/oms/user/bind", {"user_id": "u", "device_id": "d" * 65}, "device_id"),
    ("/oms/user/unbind", {"device_id": "d"}, "user_id"),
    ("/oms/user/unbind", {"user_id": "u", "device_id": ""}, "device_id"),
    ("/oms/user/unbind", {"user_id": "u", "device_id": "d", "role": "owner"}, "role"),
    ("/oms/user/device/any", {"page_size": 0}, "page_size"),
    ("/oms/device/member/any", {"page": "1"}, "page"),
    ("/internal/user/bindings/any", {"x": 1}, "x"),
])
def test_bad_bodies_name_the_field(api, path, body, field):
    envelope = api.error(path, body, status=400, code=40001)
    assert field in [e["field"] for e in envelope["data"]["errors"]]


def test_pages_are_newest_first_with_one_brief_call_each(api, device_app, ann, bob, stock):
    devices = stock(3)
    for device in devices:
        api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device})
    calls = device_app.config["CALLS"]
    calls.clear()
    first = api.data(f"/oms/user/device/{ann['id']}", {"page_size": 2})
    second = api.data(f"/oms/user/device/{ann['id']}", {"page_size": 2, "page": 2})
    assert calls == [BRIEF, BRIEF]
    assert first["total"] == second["total"] == 3
    assert [r["device_id"] for r in first["list"] + second["list"]] == devices[::-1]
    assert all(r["device_name"] for r in first["list"] + second["list"])
    api.data("/oms/user/bind", {"user_id": bob["id"], "device_id": devices[0]})
    calls.clear()
    members = api.data(f"/oms/device/member/{devices[0]}", {"page_size": 1})
    assert calls == [BRIEF]
    assert members["total"] == 2 and [m["username"] for m in members["list"]] == ["bob"]
    calls.clear()
    assert api.data(f"/oms/user/device/{bob['id']}", {"page": 5})["list"] == []
    assert calls == []  # nothing on the page: nothing to ask


def test_a_vanished_device_shows_null_fields(api, device_app, ann, stock):
    device = stock()[0]
    api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device})
    ApiClient(device_app, tenant="t1").data(f"/oms/device/remove/{device}")
    row = api.data(f"/oms/user/device/{ann['id']}")["list"][0]  # no consumer ran yet
    assert row["device_id"] == device and row["role"] == "member"
    assert (row["name"], row["device_name"], row["product_key"], row["status"]) == (
        None, None, None, None)


def test_removing_a_user_removes_its_bindings_and_announces_it(api, app, ann, bob, stock):
    devices = stock(2)
    for device in devices:
        api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device})
    api.data("/oms/user/bind", {"user_id": bob["id"], "device_id": devices[0],
                                "role": "owner"})
    api.data(f"/oms/user/remove/{ann['id']}")
    assert api.data(f"/internal/user/bindings/{devices[0]}") == {
        "bindings": {bob["id"]: "owner"}}
    assert api.data(f"/internal/user/bindings/{devices[1]}") == {"bindings": {}}
    oms = app.extensions["oms"]
    entries = oms.redis.xrange(oms.keys.stream("users.removed"))
    assert [json.loads(fields["data"]) for _id, fields in entries] == [
        {"tenant": "t1", "user_id": ann["id"]}]
    api.error(f"/oms/user/remove/{ann['id']}", status=404, code=40401)
