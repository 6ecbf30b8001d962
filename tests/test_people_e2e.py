"""Users, groups and bindings through the real gateway: the seed's examples (§4.1-4.7,
§5.1-5.4, §2.15-2.16), the extensions that make bindings and groups, and another
tenant who sees none of it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

SEED_USER = {"username": "13424240433", "password": "0216143"}


def _error(response, status, code):
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text
    return response.json()


@pytest.fixture(scope="module")
def devices(caller):
    """Four devices in stock."""
    product = caller.data("/oms/product/add", {"name": "门锁", "code": "people-e2e"})
    batch = caller.data("/oms/produce/submit", {"name": "people", "amount": 4,
                                                "product_id": product["id"],
                                                "batch_no": "PEOPLE-E2E"})
    caller.data(f"/oms/produce/confirm/{batch['id']}")
    return caller.data(f"/oms/produce/device/{batch['id']}", {"page_size": 10})["list"]


@pytest.fixture(scope="module")
def user(caller):
    """§4.2 as written."""
    return caller.data("/oms/user/add", SEED_USER)


def test_users_as_in_the_seed(caller, user):
    assert user["username"] == SEED_USER["username"] and user["status"] == "enable"
    assert "password" not in user and "password_hash" not in user
    listed = caller.data("/oms/user/list", {"username": "134"})  # §4.1
    assert user["id"] in [u["id"] for u in listed["list"]]
    updated = caller.data(f"/oms/user/update/{user['id']}", {"password": "021614313"})  # §4.3
    assert updated["id"] == user["id"]
    detail = caller.data(f"/oms/user/detail/{user['id']}", {})  # §4.4
    assert detail["username"] == SEED_USER["username"]
    _error(caller.post("/oms/user/add", SEED_USER), 409, 40900)


def test_bindings_and_a_devices_members(caller, user, devices):
    first, second = devices[0]["id"], devices[1]["id"]
    owner = caller.data("/oms/user/bind", {"user_id": user["id"], "device_id": first,
                                           "role": "owner"})
    assert owner["role"] == "owner" and owner["bound_at"]
    caller.data("/oms/user/bind", {"user_id": user["id"], "device_id": second})
    again = caller.data("/oms/user/bind", {"user_id": user["id"], "device_id": second})
    assert again["role"] == "member"
    page = caller.data(f"/oms/user/device/{user['id']}", {"page_size": 2, "page": 1})  # §4.5
    assert page["total"] == 2
    row = next(r for r in page["list"] if r["device_id"] == first)
    assert row["role"] == "owner" and row["device_name"] == devices[0]["device_name"]
    assert row["product_key"] and row["status"] == "inactive"
    members = caller.data(f"/oms/device/member/{first}", {"page_size": 20})  # §2.15
    assert [(m["user_id"], m["role"]) for m in members["list"]] == [(user["id"], "owner")]
    other = caller.data("/oms/user/add", {"username": "second-owner", "password": "secret1"})
    taken = _error(caller.post("/oms/user/bind", {"user_id": other["id"], "device_id": first,
                                                  "role": "owner"}), 409, 40901)
    assert taken["data"]["owner_id"] == user["id"]
    assert caller.data("/oms/user/unbind", {"user_id": user["id"], "device_id": second}) is None
    _error(caller.post("/oms/user/unbind", {"user_id": user["id"], "device_id": second}),
           404, 40401)


def test_groups_as_in_the_seed_and_the_extensions(caller, user, devices):
    group = caller.data("/oms/group/add", {"name": "测试组", "owner_id": user["id"]})
    assert group["member_count"] == 0 and group["device_count"] == 0
    assert group["id"] in [g["id"] for g in
                           caller.data("/oms/group/list", {"name": "测试"})["list"]]  # §5.1
    caller.data(f"/oms/group/member/add/{group['id']}", {"user_id": user["id"]})
    added = caller.data(f"/oms/group/device/add/{group['id']}",
                        {"device_ids": [d["id"] for d in devices[:3]] + ["no-such-device"]})
    assert sorted(added["added"]) == sorted(d["id"] for d in devices[:3])
    assert added["unknown"] == ["no-such-device"]
    detail = caller.data(f"/oms/group/detail/{group['id']}", {})  # §5.2
    assert (detail["member_count"], detail["device_count"]) == (1, 3)
    members = caller.data(f"/oms/group/member/{group['id']}", {})  # §5.3
    assert members["list"][0]["username"] == SEED_USER["username"]
    group_devices = caller.data(f"/oms/group/device/{group['id']}", {})  # §5.4
    assert {d["device_id"] for d in group_devices["list"]} == {d["id"] for d in devices[:3]}
    assert caller.data(f"/oms/user/group/{user['id']}", {})["list"][0]["id"] == group["id"]
    holding = caller.data(f"/oms/device/group/{devices[0]['id']}", {"page_size": 20})  # §2.16
    assert [g["id"] for g in holding["list"]] == [group["id"]]
    renamed = caller.data(f"/oms/group/update/{group['id']}", {"name": "测试组 2"})
    assert renamed["name"] == "测试组 2"
    caller.data(f"/oms/group/device/remove/{group['id']}", {"device_id": devices[0]["id"]})
    caller.data(f"/oms/group/member/remove/{group['id']}", {"user_id": user["id"]})
    after = caller.data(f"/oms/group/detail/{group['id']}", {})
    assert (after["member_count"], after["device_count"]) == (0, 2)
    assert caller.data(f"/oms/group/remove/{group['id']}", {}) is None
    _error(caller.post(f"/oms/group/detail/{group['id']}", {}), 404, 40401)


def test_another_tenant_sees_nothing_and_changes_nothing(platform, caller, user, devices):
    group = caller.data("/oms/group/add", {"name": "private", "owner_id": user["id"]})
    caller.data(f"/oms/group/member/add/{group['id']}", {"user_id": user["id"]})
    caller.data(f"/oms/group/device/add/{group['id']}", {"device_id": devices[3]["id"]})
    caller.data("/oms/user/bind", {"user_id": user["id"], "device_id": devices[3]["id"]})
    before = (caller.data(f"/oms/user/detail/{user['id']}"),
              caller.data(f"/oms/group/detail/{group['id']}"),
              caller.data(f"/oms/user/device/{user['id']}", {"page_size": 100}))
    stranger = platform.new_caller("people-stranger")
    uid, gid, did = user["id"], group["id"], devices[3]["id"]
    missing = [
        ("/oms/user/update/" + uid, {"nickname": "x"}), ("/oms/user/detail/" + uid, {}),
        ("/oms/user/device/" + uid, {}), ("/oms/user/group/" + uid, {}),
        ("/oms/user/remove/" + uid, {}), ("/oms/device/member/" + did, {}),
        ("/oms/device/group/" + did, {}),
        ("/oms/user/bind", {"user_id": uid, "device_id": did}),
        ("/oms/user/unbind", {"user_id": uid, "device_id": did}),
        ("/oms/group/detail/" + gid, {}), ("/oms/group/update/" + gid, {"name": "x"}),
        ("/oms/group/member/" + gid, {}), ("/oms/group/device/" + gid, {}),
        ("/oms/group/member/add/" + gid, {"user_id": uid}),
        ("/oms/group/member/remove/" + gid, {"user_id": uid}),
        ("/oms/group/device/add/" + gid, {"device_id": did}),
        ("/oms/group/device/remove/" + gid, {"device_id": did}),
        ("/oms/group/remove/" + gid, {}),
        ("/oms/group/add", {"name": "theirs", "owner_id": uid}),
    ]
    for path, body in missing:
        _error(stranger.post(path, body), 404, 40401)
    assert stranger.data("/oms/user/list", {})["total"] == 0
    assert stranger.data("/oms/group/list", {})["total"] == 0
    after = (caller.data(f"/oms/user/detail/{user['id']}"),
             caller.data(f"/oms/group/detail/{group['id']}"),
             caller.data(f"/oms/user/device/{user['id']}", {"page_size": 100}))
    assert after == before


def test_odd_input_is_an_envelope_never_a_crash(caller, user):
    _error(caller.post("/oms/user/add", {"username": "", "password": "123456"}), 400, 40001)
    _error(caller.post("/oms/user/add", {"username": "short-pw", "password": "12345"}),
           400, 40001)
    _error(caller.post("/oms/user/detail/" + "x" * 300, {}), 404, 40401)
    _error(caller.post("/oms/group/detail/%00", {}), 400, 40000)  # nginx refuses a NUL
    _error(caller.post("/oms/user/bind", {"user_id": user["id"], "device_id": "nope",
                                          "role": "admin"}), 400, 40001)
    _error(caller.post("/oms/group/device/add/x", {"device_ids": ["a"] * 1001}), 400, 40001)


def test_no_password_or_hash_reaches_a_log(platform, caller):
    """Add and update users (through the gateway and the services' access logs), then
    read every log file of the run."""
    made = caller.data("/oms/user/add", {"username": "logged", "password": "first-Secret-1"})
    caller.data(f"/oms/user/update/{made['id']}", {"password": "second-Secret-2",
                                                   "nickname": "n"})
    _error(caller.post("/oms/user/add", {"username": "logged", "password": "third-Secret-3"}),
           409, 40900)
    for log in platform.stack.log_dir.iterdir():
        text = log.read_text(errors="replace")
        for secret in ("first-Secret-1", "second-Secret-2", "third-Secret-3", "$argon2"):
            assert secret not in text, (log.name, secret)
