"""The group endpoints through the test client, with real peers over HTTP."""

from __future__ import annotations

import uuid

import pytest


def test_add_detail_list_update_remove(api, user, devices):
    owner, other_owner = user(), user()
    made = api.data("/oms/group/add", {"name": "测试组", "owner_id": owner})
    assert made["name"] == "测试组" and made["owner_id"] == owner
    assert (made["member_count"], made["device_count"]) == (0, 0)
    assert made["created_at"] and made["updated_at"]
    assert api.data(f"/oms/group/detail/{made['id']}") == made
    listed = api.data("/oms/group/list", {"name": "测试"})
    assert (listed["total"], listed["list"]) == (1, [made])
    assert api.data("/oms/group/list", {"name": "nothing"})["total"] == 0
    updated = api.data(f"/oms/group/update/{made['id']}", {"name": "B", "owner_id": other_owner})
    assert (updated["name"], updated["owner_id"]) == ("B", other_owner)
    assert api.data(f"/oms/group/update/{made['id']}", {})["name"] == "B"
    assert api.data(f"/oms/group/remove/{made['id']}") is None
    api.error(f"/oms/group/detail/{made['id']}", status=404, code=40401)
    assert api.data("/oms/group/list")["total"] == 0


def test_counts_in_detail_and_list(api, user, devices):
    owner = user()
    a = api.data("/oms/group/add", {"name": "a", "owner_id": owner})
    b = api.data("/oms/group/add", {"name": "b", "owner_id": owner})
    for member in (user(), user()):
        api.data(f"/oms/group/member/add/{a['id']}", {"user_id": member})
    api.data(f"/oms/group/device/add/{a['id']}", {"device_ids": devices(3)})
    api.data(f"/oms/group/device/add/{b['id']}", {"device_ids": devices(1)})
    detail = api.data(f"/oms/group/detail/{a['id']}")
    assert (detail["member_count"], detail["device_count"]) == (2, 3)
    listed = api.data("/oms/group/list")["list"]
    assert [(g["name"], g["member_count"], g["device_count"]) for g in listed] == [
        ("b", 0, 1), ("a", 2, 3)]  # newest first


def test_list_pages_and_name_filter_is_literal(api, user):
    owner = user()
    for name in ("50%_off", "500 off", "x_y", "xy"):
        api.data("/oms/group/add", {"name": name, "owner_id": owner})
    assert [g["name"] for g in api.data("/oms/group/list", {"name": "%"})["list"]] == ["50%_off"]
    assert [g["name"] for g in api.data("/oms/group/list", {"name": "_"})["list"]] == [
        "x_y", "50%_off"]
    page = api.data("/oms/group/list", {"page": 2, "page_size": 3})
    assert (page["total"], page["page"], page["page_size"]) == (4, 2, 3)
    assert [g["name"] for g in page["list"]] == ["50%_off"]


def test_the_owner_must_be_a_user_of_the_tenant(api, user):
    mine = api.data("/oms/group/add", {"name": "g", "owner_id": user()})
    for owner in (str(uuid.uuid4()), user(tenant="t2"), "x" * 64):
        envelope = api.error("/oms/group/add", {"name": "h", "owner_id": owner}, status=404,
                             code=40401)
        assert "user" in envelope["message"]
        api.error(f"/oms/group/update/{mine['id']}", {"owner_id": owner}, status=404,
                  code=40401)
    assert api.data(f"/oms/group/detail/{mine['id']}")["owner_id"] == mine["owner_id"]
    assert api.data("/oms/group/list")["total"] == 1


def test_duplicate_names_are_409(api, user, other):
    owner = user()
    api.data("/oms/group/add", {"name": "same", "owner_id": owner})
    envelope = api.error("/oms/group/add", {"name": "same", "owner_id": owner}, status=409,
                         code=40900)
    assert envelope["data"] == {"field": "name"}
    second = api.data("/oms/group/add", {"name": "second", "owner_id": owner})
    envelope = api.error(f"/oms/group/update/{second['id']}", {"name": "same"}, status=409,
                         code=40900)
    assert envelope["data"] == {"field": "name"}
    assert api.data(f"/oms/group/update/{second['id']}", {"name": "second"})["name"] == "second"
    # unique within a tenant only
    assert other.data("/oms/group/add", {"name": "same", "owner_id": user(tenant="t2")})


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/oms/group/add", {"owner_id": "u"}, "name"),
    ("/oms/group/add", {"name": "", "owner_id": "u"}, "name"),
    ("/oms/group/add", {"name": "n" * 65, "owner_id": "u"}, "name"),
    ("/oms/group/add", {"name": "n"}, "owner_id"),
    ("/oms/group/add", {"name": "n", "owner_id": 5}, "owner_id"),
    ("/oms/group/add", {"name": "n", "owner_id": "u", "colour": "red"}, "colour"),
    ("/oms/group/update/{id}", {"name": 1}, "name"),
    ("/oms/group/update/{id}", {"owner_id": ""}, "owner_id"),
    ("/oms/group/list", {"name": "n" * 65}, "name"),
    ("/oms/group/list", {"page_size": 0}, "page_size"),
    ("/oms/group/detail/{id}", {"x": 1}, "x"),
    ("/oms/group/remove/{id}", {"x": 1}, "x"),
    ("/oms/group/member/add/{id}", {}, "user_id"),
    ("/oms/group/member/remove/{id}", {"user_id": None}, "user_id"),
    ("/oms/group/member/{id}", {"page": 0}, "page"),
    ("/oms/group/device/add/{id}", {}, "device_ids"),
    ("/oms/group/device/add/{id}", {"device_id": "a", "device_ids": ["b"]}, "device_ids"),
    ("/oms/group/device/add/{id}", {"device_ids": []}, "device_ids"),
    ("/oms/group/device/add/{id}", {"device_ids": ["a"] * 1001}, "device_ids"),
    ("/oms/group/device/add/{id}", {"device_ids": ["a", 2]}, "device_ids[1]"),
    ("/oms/group/device/remove/{id}", {}, "device_ids"),
    ("/oms/group/device/remove/{id}", {"device_id": ""}, "device_id"),
    ("/oms/group/device/{id}", {"page_size": 501}, "page_size"),
    ("/oms/user/group/{user}", {"page": "1"}, "page"),
    ("/oms/device/group/{device}", {"page_size": 0}, "page_size"),
])
def test_bad_bodies_name_the_field(api, user, devices, path, body, field):
    owner = user()
    group = api.data("/oms/group/add", {"name": "g", "owner_id": owner})
    path = path.format(id=group["id"], user=owner, device=devices(1)[0])
    envelope = api.error(path, body, status=400, code=40001)
    assert field in [e["field"] for e in envelope["data"]["errors"]]
    assert api.data(f"/oms/group/detail/{group['id']}") == group  # nothing changed


def test_groups_of_a_user_member_or_owner(api, user, other):
    owner, member, loner = user(), user(), user()
    owned = api.data("/oms/group/add", {"name": "owned", "owner_id": owner})
    joined = api.data("/oms/group/add", {"name": "joined", "owner_id": member})
    api.data(f"/oms/group/member/add/{owned['id']}", {"user_id": member})
    page = api.data(f"/oms/user/group/{member}")
    assert page["total"] == 2
    assert [g["name"] for g in page["list"]] == ["joined", "owned"]
    assert page["list"][1]["member_count"] == 1
    assert [g["id"] for g in api.data(f"/oms/user/group/{owner}")["list"]] == [owned["id"]]
    assert api.data(f"/oms/user/group/{loner}", {"page_size": 20})["total"] == 0
    assert api.data(f"/oms/user/group/{member}", {"page": 2, "page_size": 1})["list"][0][
        "id"] == owned["id"]
    assert joined["owner_id"] == member
    for unknown in (str(uuid.uuid4()), "x" * 100, user(tenant="t2")):
        api.error(f"/oms/user/group/{unknown}", status=404, code=40401)
    other.error(f"/oms/user/group/{member}", status=404, code=40401)


def test_groups_of_a_device(api, user, devices, other, device_calls):
    owner = user()
    [device], [loose] = devices(1), devices(1)
    a = api.data("/oms/group/add", {"name": "a", "owner_id": owner})
    b = api.data("/oms/group/add", {"name": "b", "owner_id": owner})
    api.data("/oms/group/add", {"name": "c", "owner_id": owner})
    for group in (a, b):
        api.data(f"/oms/group/device/add/{group['id']}", {"device_id": device})
    device_calls.clear()
    page = api.data(f"/oms/device/group/{device}", {"page_size": 20})
    assert [g["name"] for g in page["list"]] == ["b", "a"] and page["total"] == 2
    assert page["list"][0]["device_count"] == 1
    assert device_calls == ["/internal/device/brief"]
    assert api.data(f"/oms/device/group/{loose}")["total"] == 0
    [pending] = devices(1, stock=False)  # exists, in no group
    assert api.data(f"/oms/device/group/{pending}")["total"] == 0
    for unknown in (str(uuid.uuid4()), "x" * 100, devices(1, tenant="t2")[0]):
        api.error(f"/oms/device/group/{unknown}", status=404, code=40401)
    other.error(f"/oms/device/group/{device}", status=404, code=40401)


def test_removing_a_group_removes_its_members_and_devices(api, user, devices):
    owner, member = user(), user()
    [device] = devices(1)
    group = api.data("/oms/group/add", {"name": "g", "owner_id": owner})
    api.data(f"/oms/group/member/add/{group['id']}", {"user_id": member})
    api.data(f"/oms/group/device/add/{group['id']}", {"device_id": device})
    api.data(f"/oms/group/remove/{group['id']}")
    assert api.data(f"/oms/device/group/{device}")["total"] == 0
    assert api.data(f"/oms/user/group/{member}")["total"] == 0
    for path in ("detail", "remove", "member", "device"):
        api.error(f"/oms/group/{path}/{group['id']}", status=404, code=40401)
    again = api.data("/oms/group/add", {"name": "g", "owner_id": owner})  # the name is free
    api.data(f"/oms/group/device/add/{again['id']}", {"device_id": device})
