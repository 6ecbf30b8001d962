"""``/oms/auth/token`` as ``docs/api.md`` describes it."""

from __future__ import annotations

import time

import jwt
import pytest


def _token(client, body):
    return client.post("/oms/auth/token", json=body)


def test_a_signed_request_gets_a_token(client, make_app_row, signed):
    row = make_app_row(tenant="acme")
    response = _token(client, signed(row))
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert 7190 <= data["expires_in"] <= 7200
    assert data["expires_at"].endswith("Z") and len(data["expires_at"]) == 24
    claims = jwt.decode(data["token"], options={"verify_signature": False})
    assert claims["sub"] == row.app_id and claims["tenant"] == "acme" and claims["iss"] == "oms"
    assert {"iat", "exp", "jti"} <= set(claims)


def test_the_token_passes_the_libraries_verification(app, client, make_app_row, signed):
    from oms_shared import decode_token

    token = _token(client, signed(make_app_row())).get_json()["data"]["token"]
    oms = app.extensions["oms"]
    claims = decode_token(token, secret=oms.settings.jwt.secret.get_secret_value(), issuer="oms")
    oms.revocations.check(claims)  # raises if revoked


def test_repeating_the_same_signed_request_returns_the_same_token(client, make_app_row, signed):
    body = signed(make_app_row())
    first = _token(client, body).get_json()["data"]["token"]
    second = _token(client, body).get_json()["data"]["token"]
    assert first == second
    other = signed(make_app_row())
    assert _token(client, other).get_json()["data"]["token"] != first


def test_milliseconds_and_numbers_are_accepted(client, make_app_row, signed):
    row = make_app_row()
    ms = str(int(time.time() * 1000))
    assert _token(client, signed(row, ms)).status_code == 200
    number = int(time.time())
    body = signed(row, str(number))
    body["timestamp"] = number
    assert _token(client, body).status_code == 200


@pytest.mark.parametrize("offset", [-301, 301, -86400, 10**6])
def test_stale_or_future_timestamps_are_40112(client, make_app_row, signed, offset):
    response = _token(client, signed(make_app_row(), str(int(time.time()) + offset)))
    assert response.status_code == 401
    assert response.get_json()["code"] == 40112


def test_a_wrong_sign_is_40111(client, make_app_row, signed):
    row = make_app_row()
    response = _token(client, signed(row, secret="0" * 32))
    assert response.get_json()["code"] == 40111


def test_an_unknown_app_is_40110(client, make_app_row, signed):
    row = make_app_row()
    body = signed(row)
    body["app_id"] = "nobody"
    assert _token(client, body).get_json()["code"] == 40110


def test_a_disabled_app_is_40110(client, make_app_row, signed):
    response = _token(client, signed(make_app_row(enabled=False)))
    assert response.status_code == 401
    assert response.get_json()["code"] == 40110


@pytest.mark.parametrize(("body", "field"), [
    ({"app_id": "a", "timestamp": "soon", "sign": "x"}, "timestamp"),
    ({"app_id": "a", "timestamp": "1.5", "sign": "x"}, "timestamp"),
    ({"app_id": "a", "timestamp": True, "sign": "x"}, "timestamp"),
    ({"app_id": "a", "timestamp": "1"}, "sign"),
    ({"app_id": "a", "timestamp": "1", "sign": "x", "extra": 1}, "extra"),
])
def test_malformed_requests_are_40001(client, body, field):
    response = _token(client, body)
    assert response.status_code == 400
    assert field in [e["field"] for e in response.get_json()["data"]["errors"]]


def test_the_secret_never_appears_in_a_response(client, make_app_row, signed):
    row = make_app_row()
    for body in (signed(row), signed(row, secret="f" * 32)):
        assert row.secret not in _token(client, body).get_data(as_text=True)


@pytest.mark.parametrize("bad", ["é" * 32, "g" * 32, "a" * 31, "a" * 33, "\uff10" * 32])
def test_a_sign_that_is_not_32_hex_characters_is_40001(client, make_app_row, signed, bad):
    body = {**signed(make_app_row()), "sign": bad}
    response = _token(client, body)
    assert response.status_code == 400
    assert [e["field"] for e in response.get_json()["data"]["errors"]] == ["sign"]
