"""Group members: a user of the tenant (checked with the user service) joins a group."""

from __future__ import annotations

import uuid


def test_add_list_remove_a_member(api, user, users, user_calls):
    group = api.data("/oms/group/add", {"name": "g", "owner_id": user()})
    first, second = user(), user()
    added = api.data(f"/oms/group/member/add/{group['id']}", {"user_id": first})
    assert added["group_id"] == group["id"] and added["user_id"] == first and added["added_at"]
    assert api.data(f"/oms/group/member/add/{group['id']}", {"user_id": first}) == added
    api.data(f"/oms/group/member/add/{group['id']}", {"user_id": second})
    assert api.data(f"/oms/group/detail/{group['id']}")["member_count"] == 2
    user_calls.clear()
    page = api.data(f"/oms/group/member/{group['id']}")
    assert user_calls == ["/internal/user/brief"]  # one call for the page
    assert page["total"] == 2 and [m["user_id"] for m in page["list"]] == [second, first]
    assert page["list"][1] == {"user_id": first, "username": users[first]["username"],
                               "nickname": users[first]["nickname"], "status": "enable",
                               "added_at": added["added_at"]}
    assert api.data(f"/oms/group/member/{group['id']}", {"page": 2, "page_size": 1})[
        "list"][0]["user_id"] == first
    assert api.data(f"/oms/group/member/remove/{group['id']}", {"user_id": first}) is None
    envelope = api.error(f"/oms/group/member/remove/{group['id']}", {"user_id": first},
                         status=404, code=40401)
    assert "member" in envelope["message"]
    assert api.data(f"/oms/group/member/{group['id']}")["total"] == 1


def test_a_member_must_be_a_user_of_the_tenant(api, user):
    group = api.data("/oms/group/add", {"name": "g", "owner_id": user()})
    for unknown in (str(uuid.uuid4()), user(tenant="t2"), "u" * 64, "a/b"):
        envelope = api.error(f"/oms/group/member/add/{group['id']}", {"user_id": unknown},
                             status=404, code=40401)
        assert "user" in envelope["message"]
        api.error(f"/oms/group/member/remove/{group['id']}", {"user_id": unknown},
                  status=404, code=40401)
    assert api.data(f"/oms/group/detail/{group['id']}")["member_count"] == 0


def test_a_vanished_user_is_listed_with_null_fields(api, user, users):
    group = api.data("/oms/group/add", {"name": "g", "owner_id": user()})
    member = user()
    api.data(f"/oms/group/member/add/{group['id']}", {"user_id": member})
    del users[member]  # gone from the user service; its removal not applied here yet
    [item] = api.data(f"/oms/group/member/{group['id']}")["list"]
    assert item["user_id"] == member
    assert (item["username"], item["nickname"], item["status"]) == (None, None, None)
