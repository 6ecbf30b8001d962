"""The user endpoints (§4.1 to 4.4 and 4.7) through the test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from oms_shared.testing import ApiClient
from user_service.db import db
from user_service.models import User

READ_FIELDS = {"id", "username", "nickname", "status", "created_at", "updated_at"}


def stored_hash(app, user_id: str) -> str:
    with app.app_context():
        session = db.sessionmaker()
        try:
            return session.scalar(select(User.password_hash).where(User.id == user_id))
        finally:
            session.close()


def test_add_detail_list_update_remove(api):
    made = api.data("/oms/user/add", {"username": "13424240433", "password": "0216143"})
    assert set(made) == READ_FIELDS
    assert made["nickname"] == "" and made["status"] == "enable" and len(made["id"]) == 36
    assert made["created_at"].endswith("Z")
    assert api.data(f"/oms/user/detail/{made['id']}") == made
    listed = api.data("/oms/user/list", {"username": "134"})
    assert listed["total"] == 1 and listed["list"][0]["id"] == made["id"]
    updated = api.data(f"/oms/user/update/{made['id']}",
                       {"nickname": "Li", "status": "disable"})
    assert (updated["nickname"], updated["status"], updated["username"]) == (
        "Li", "disable", "13424240433")
    assert api.data(f"/oms/user/remove/{made['id']}") is None
    api.error(f"/oms/user/detail/{made['id']}", status=404, code=40401)
    assert api.data("/oms/user/list")["total"] == 0


def test_the_password_is_stored_as_an_argon2id_hash(api, app):
    made = api.data("/oms/user/add", {"username": "ann", "password": "first-pass"})
    first = stored_hash(app, made["id"])
    assert first.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PasswordHasher().verify(first, "first-pass")
    api.data(f"/oms/user/update/{made['id']}", {"nickname": "A"})
    assert stored_hash(app, made["id"]) == first  # untouched without a new password
    api.data(f"/oms/user/update/{made['id']}", {"password": "second-pass"})
    second = stored_hash(app, made["id"])
    assert second != first and second.startswith("$argon2id$")
    assert PasswordHasher().verify(second, "second-pass")


def test_no_response_or_log_carries_the_password_or_hash(api, app, stock, caplog):
    caplog.set_level("DEBUG")
    device = stock()[0]
    texts = []
    made = api.post("/oms/user/add", {"username": "bob", "password": "hunter22-pw"})
    texts.append(made.get_data(as_text=True))
    user_id = made.get_json()["data"]["id"]
    for path, body in [
        (f"/oms/user/update/{user_id}", {"password": "hunter33-pw"}),
        (f"/oms/user/detail/{user_id}", {}),
        ("/oms/user/list", {}),
        ("/oms/user/bind", {"user_id": user_id, "device_id": device}),
        (f"/oms/user/device/{user_id}", {}),
        (f"/oms/device/member/{device}", {}),
        ("/internal/user/brief", {"user_ids": [user_id]}),
        (f"/internal/user/bindings/{device}", {}),
    ]:
        response = api.post(path, body)
        assert response.status_code == 200, response.get_json()
        texts.append(response.get_data(as_text=True))
    hashed = stored_hash(app, user_id)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for text in [*texts, logged]:
        assert "hunter22-pw" not in text and "hunter33-pw" not in text
        assert hashed not in text and "$argon2" not in text and "password" not in text


def test_list_filters_pages_and_orders_newest_first(api, add_user):
    for name in ("a_b", "axb", "a%c", "other"):
        add_user(name)
    assert [u["username"] for u in api.data("/oms/user/list")["list"]] == [
        "other", "a%c", "axb", "a_b"]
    assert [u["username"] for u in api.data("/oms/user/list", {"username": "_"})["list"]] == [
        "a_b"]
    assert [u["username"] for u in api.data("/oms/user/list", {"username": "%"})["list"]] == [
        "a%c"]
    page = api.data("/oms/user/list", {"page": 2, "page_size": 3})
    assert page["total"] == 4 and [u["username"] for u in page["list"]] == ["a_b"]
    add_user("off", status="disable")
    assert [u["username"] for u in api.data("/oms/user/list", {"status": "disable"})["list"]
            ] == ["off"]


def test_duplicate_username_is_40900(api, add_user):
    add_user("same")
    other = add_user("other")
    envelope = api.error("/oms/user/add", {"username": "same", "password": "123456"},
                         status=409, code=40900)
    assert envelope["data"] == {"field": "username"}
    envelope = api.error(f"/oms/user/update/{other['id']}", {"username": "same"},
                         status=409, code=40900)
    assert envelope["data"] == {"field": "username"}
    assert api.data(f"/oms/user/update/{other['id']}", {"username": "other"})["username"] == (
        "other")  # its own name again is no conflict


def test_the_same_username_in_another_tenant_is_fine(app, add_user):
    add_user("same")
    assert add_user("same", client=ApiClient(app, tenant="t2"))["username"] == "same"


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/oms/user/add", {"password": "123456"}, "username"),
    ("/oms/user/add", {"username": "", "password": "123456"}, "username"),
    ("/oms/user/add", {"username": "x" * 65, "password": "123456"}, "username"),
    ("/oms/user/add", {"username": "x", "password": "12345"}, "password"),
    ("/oms/user/add", {"username": "x", "password": "1" * 129}, "password"),
    ("/oms/user/add", {"username": "x", "password": 123456}, "password"),
    ("/oms/user/add", {"username": "x", "password": "123456", "nickname": "n" * 65},
     "nickname"),
    ("/oms/user/add", {"username": "x", "password": "123456", "status": "on"}, "status"),
    ("/oms/user/add", {"username": "x", "password": "123456", "colour": "red"}, "colour"),
    ("/oms/user/update/any", {"password": "123"}, "password"),
    ("/oms/user/update/any", {"username": ""}, "username"),
    ("/oms/user/list", {"username": 134}, "username"),
    ("/oms/user/list", {"page_size": 501}, "page_size"),
    ("/oms/user/list", {"page": "2"}, "page"),
    ("/oms/user/detail/any", {"x": 1}, "x"),
    ("/oms/user/remove/any", {"x": 1}, "x"),
    ("/internal/user/brief", {"user_ids": "abc"}, "user_ids"),
    ("/internal/user/brief", {"user_ids": ["a"] * 1001}, "user_ids"),
])
def test_bad_bodies_name_the_field(api, path, body, field):
    envelope = api.error(path, body, status=400, code=40001)
    assert field in [e["field"] for e in envelope["data"]["errors"]]


@pytest.mark.parametrize("user_id", ["00000000-0000-0000-0000-000000000000", "x" * 300, "1"])
@pytest.mark.parametrize(("path", "body"), [
    ("detail", {}), ("update", {"nickname": "n"}), ("remove", {}), ("device", {}),
])
def test_unknown_ids_are_40401(api, path, body, user_id):
    api.error(f"/oms/user/{path}/{user_id}", body, status=404, code=40401)


def test_another_tenants_user_behaves_as_missing(api, app, add_user):
    made = add_user("ann")
    other = ApiClient(app, tenant="t2")
    for path, body in [("detail", {}), ("update", {"nickname": "x"}), ("remove", {}),
                       ("device", {})]:
        other.error(f"/oms/user/{path}/{made['id']}", body, status=404, code=40401)
    assert other.data("/oms/user/list")["total"] == 0
    assert other.data("/internal/user/brief", {"user_ids": [made["id"]]}) == {"users": []}
    assert api.data(f"/oms/user/detail/{made['id']}") == made  # nothing changed


def test_internal_brief(api, add_user):
    ann, bob = add_user("ann", nickname="A"), add_user("bob")
    data = api.data("/internal/user/brief",
                    {"user_ids": [ann["id"], bob["id"], "nope", "y" * 64]})
    assert sorted(data["users"], key=lambda u: u["username"]) == [
        {"id": ann["id"], "username": "ann", "nickname": "A", "status": "enable"},
        {"id": bob["id"], "username": "bob", "nickname": "", "status": "enable"}]
    assert api.data("/internal/user/brief", {"user_ids": []}) == {"users": []}
