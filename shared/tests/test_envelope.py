"""The envelope, request ids and the error codes of ``docs/api.md``, seen from a client."""

from __future__ import annotations

import pytest

from oms_shared._tokens import issue


def test_success_is_wrapped_with_the_request_id(client, headers):
    response = client.post("/oms/note/add", json={"text": "hi"},
                           headers={**headers, "X-Request-ID": "abc-123"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["code"] == 0 and body["message"] == "ok"
    assert body["data"]["text"] == "hi"
    assert body["request_id"] == "abc-123" == response.headers["X-Request-ID"]


def test_a_request_id_is_made_up_when_missing_or_unsafe(client, headers):
    response = client.post("/oms/note/add", json={"text": "hi"},
                           headers={**headers, "X-Request-ID": "bad id;<script>"})
    rid = response.headers["X-Request-ID"]
    assert len(rid) == 32 and rid == response.get_json()["request_id"]


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"{not json", b"42", b"\xff"])
def test_a_body_that_is_not_an_object_is_40000(client, headers, raw):
    response = client.post("/oms/note/add", data=raw, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["code"] == 40000


def test_an_empty_body_counts_as_an_empty_object(client, headers):
    response = client.post("/oms/note/list", data=b"", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["data"]["page"] == 1


def test_body_without_content_type_is_accepted(client, headers):
    response = client.post("/oms/note/add", data=b'{"text": "plain"}', headers=headers,
                           content_type="text/plain")
    assert response.get_json()["data"]["text"] == "plain"


def test_unknown_and_nested_fields_are_named(client, headers):
    response = client.post("/oms/note/add", headers=headers, json={
        "text": "x", "colour": "red",
        "items": [{"identifier": "ok"}, {"identifier": "bad id", "specs": {"min": "low"}}]})
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == 40001
    fields = {e["field"]: e["message"] for e in body["data"]["errors"]}
    assert fields["colour"] == "unknown field"
    assert "items[1].identifier" in fields
    assert "items[1].specs.min" in fields


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch", "options"])
def test_other_methods_are_405(client, headers, method):
    response = getattr(client, method)("/oms/note/add", headers=headers)
    assert response.status_code == 405
    assert response.get_json()["code"] == 40500


def test_unknown_path_is_40400_even_without_a_token(client):
    response = client.post("/oms/nothing/here")
    assert response.status_code == 404
    assert response.get_json()["code"] == 40400


def test_a_crash_is_50000_without_details(client, headers):
    response = client.post("/oms/note/crash", headers=headers)
    assert response.status_code == 500
    assert response.get_json()["code"] == 50000
    assert "secret-internal-detail" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_body_over_one_mib_is_41300(client, headers):
    response = client.post("/oms/note/add", data=b"x" * (1024 * 1024 + 1), headers=headers)
    assert response.status_code == 413
    assert response.get_json()["code"] == 41300


def test_redis_down_is_50300(base_config, database_url, make_app):
    config = {**base_config, "redis": {"url": "redis://127.0.0.1:1/0", "socket_timeout": 0.2},
              "product": {"database_url": database_url}}
    app = make_app(config)
    token, _ = issue(secret=config["jwt"]["secret"], issuer="oms", app_id="a", tenant="t",
                     generation=1, ttl=60)
    response = app.test_client().post("/oms/note/list", headers={"Token": token})
    assert response.status_code == 503
    assert response.get_json()["code"] == 50300
