"""The foundation through the real gateway: sign, get a token, call the platform."""

from __future__ import annotations

import json
import time

import pytest
import requests

from oms_shared import SERVICE_NAMES

pytestmark = pytest.mark.e2e


def test_signing_with_the_default_credentials_returns_a_token(platform, caller):
    assert caller.token and caller.token.count(".") == 2
    again = requests.post(f"{platform.url}/oms/auth/token", json=caller.token_request(),
                          timeout=10).json()
    assert again["code"] == 0 and again["data"]["expires_in"] > 7000


def test_repeated_identical_signed_request_gets_the_same_token(platform, caller):
    body = caller.token_request()
    first = requests.post(f"{platform.url}/oms/auth/token", json=body, timeout=10).json()
    second = requests.post(f"{platform.url}/oms/auth/token", json=body, timeout=10).json()
    assert first["data"]["token"] == second["data"]["token"]


def test_service_list_shows_every_service_up(caller):
    data = caller.data("/pms/system/service/list")
    services = {s["name"]: s for s in data["list"]}
    assert list(services) == list(SERVICE_NAMES)
    for service in services.values():
        assert service["status"] == "up", service
        assert service["instances"][0]["address"].startswith("127.0.0.1:")


def test_setting_info_shows_no_secret(platform, caller):
    response = caller.post("/pms/system/setting/info")
    data = response.json()["data"]
    assert data["bind_address"] == platform.stack.listen
    secret = platform.stack.child_env["OMS_JWT__SECRET"]
    assert secret not in response.text
    assert platform.stack.credentials["app_secret"] not in response.text


@pytest.mark.parametrize(("mutate", "code"), [
    (lambda b: {**b, "sign": "0" * 32}, 40111),
    (lambda b: {**b, "timestamp": str(int(time.time()) - 301)}, 40112),
    (lambda b: {**b, "timestamp": str(int(time.time()) + 301)}, 40112),
    (lambda b: {**b, "app_id": "oms-nobody"}, 40110),
])
def test_token_request_failures(platform, caller, mutate, code):
    body = mutate(caller.token_request())
    if code == 40112:  # a stale timestamp signed correctly
        body["sign"] = caller.token_request(body["timestamp"])["sign"]
    response = requests.post(f"{platform.url}/oms/auth/token", json=body, timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == code


def _protected(platform, headers):
    return requests.post(f"{platform.url}/pms/system/setting/info", json={}, headers=headers,
                         timeout=10)


def test_no_token_is_40100(platform):
    response = _protected(platform, {})
    assert response.status_code == 401
    assert response.json()["code"] == 40100


def test_bad_tokens_are_40101(platform, caller):
    import jwt

    claims = jwt.decode(caller.token, options={"verify_signature": False})
    tampered = caller.token[:-3] + ("AAA" if not caller.token.endswith("AAA") else "BBB")
    forged = jwt.encode(claims, "wrong-key-" + "k" * 40, algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    expired = jwt.encode({**claims, "exp": int(time.time()) - 1},
                         platform.stack.child_env["OMS_JWT__SECRET"], algorithm="HS256")
    for token in (tampered, forged, unsigned, expired, "garbage"):
        response = _protected(platform, {"Token": token})
        assert response.status_code == 401, token
        assert response.json()["code"] == 40101, token


def test_bearer_header_is_accepted(platform, caller):
    response = _protected(platform, {"Authorization": f"Bearer {caller.token}"})
    assert response.json()["code"] == 0


def test_a_disabled_apps_token_is_refused_at_once(platform):
    other = platform.new_caller("acme")
    assert other.post("/oms/product/list").json()["code"] == 0
    platform.apps("disable", other.app_id)
    response = other.post("/oms/product/list")
    assert response.status_code == 401
    assert response.json()["code"] == 40101
    refused = requests.post(f"{platform.url}/oms/auth/token", json=other.token_request(),
                            timeout=10)
    assert refused.json()["code"] == 40110


def test_rotating_a_secret_revokes_tokens(platform):
    other = platform.new_caller("rotating")
    old_token = other.token
    platform.apps("rotate-secret", other.app_id)
    assert other.post("/oms/product/list").json()["code"] == 40101
    assert requests.post(f"{platform.url}/oms/auth/token", json=other.token_request(),
                         timeout=10).json()["code"] == 40111
    assert old_token


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"data": b"[1,2]"}, 400, 40000),
    ({"data": b"not json"}, 400, 40000),
    ({"json": {"surprise": 1}}, 400, 40001),
])
def test_bad_bodies(platform, caller, kwargs, status, code):
    response = requests.post(f"{platform.url}/pms/system/setting/info",
                             headers={"Token": caller.token, "X-Request-ID": "req-e2e-1"},
                             timeout=10, **kwargs)
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert body["request_id"] == "req-e2e-1" == response.headers["X-Request-ID"]
    if code == 40001:
        assert body["data"]["errors"] == [{"field": "surprise", "message": "unknown field"}]


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/pms/system/setting/info", 405, 40500),
    ("PUT", "/oms/auth/token", 405, 40500),
    ("POST", "/oms/nothing", 404, 40400),
    ("POST", "/pms/system/nothing", 404, 40400),
    ("GET", "/", 404, 40400),
    ("POST", "/openapi.json", 405, 40500),
])
def test_method_and_path_errors_are_envelopes(platform, method, path, status, code):
    response = requests.request(method, f"{platform.url}{path}", timeout=10,
                                headers={"X-Request-ID": "req-e2e-2"})
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code
    assert body["request_id"] == "req-e2e-2" == response.headers["X-Request-ID"]


def test_an_unknown_endpoint_answers_with_an_envelope(caller):
    response = caller.post("/oms/device/property/frobnicate", {"device_id": "x"})
    assert response.status_code == 404
    assert response.json()["code"] == 40400


def test_a_request_id_is_made_when_none_is_sent(platform, caller):
    response = caller.post("/pms/system/setting/info")
    assert len(response.headers["X-Request-ID"]) == 32
    assert response.json()["request_id"] == response.headers["X-Request-ID"]


def test_the_request_id_reaches_the_gateway_and_service_logs(platform, caller):
    caller.post("/pms/system/setting/info", headers={"X-Request-ID": "trace-me-123"})
    port = platform.stack.ports["system"][0]
    service_log = platform.stack.log_dir / f"system-{port}.log"
    gateway_log = platform.stack.log_dir / "gateway-access.log"
    deadline = time.monotonic() + 5  # the gateway flushes its access log every second
    while time.monotonic() < deadline and "trace-me-123" not in gateway_log.read_text():
        time.sleep(0.2)
    assert "trace-me-123" in gateway_log.read_text()
    lines = [json.loads(line) for line in service_log.read_text().splitlines()
             if "trace-me-123" in line]
    assert lines and lines[0]["request_id"] == "trace-me-123"
    assert lines[0]["path"] == "/pms/system/setting/info"


def test_bodies_over_one_mib_are_41300(platform, caller):
    response = requests.post(f"{platform.url}/pms/system/setting/info",
                             data=b"{" + b" " * (1024 * 1024 + 10) + b"}",
                             headers={"Token": caller.token}, timeout=10)
    assert response.status_code == 413
    assert response.json()["code"] == 41300


def test_openapi_document_is_served_and_covers_the_routes(platform):
    document = requests.get(f"{platform.url}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.")
    assert {"/oms/auth/token", "/pms/system/setting/info", "/pms/system/service/list"} <= set(
        document["paths"])
    token_op = document["paths"]["/oms/auth/token"]["post"]
    assert token_op["security"] == []
    schema = token_op["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:  # a named schema of the components
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert "sign" in schema["properties"]


def test_logs_hold_no_secrets(platform, caller):
    caller.post("/pms/system/setting/info")
    secrets = [platform.stack.child_env["OMS_JWT__SECRET"],
               platform.stack.credentials["app_secret"], caller.token]
    for log in platform.stack.log_dir.iterdir():
        text = log.read_text(errors="replace")
        for secret in secrets:
            assert secret not in text, log.name


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"[" * 100000, 400, 40000),
    ('{"app_id": "x", "timestamp": "\u00b2", "sign": "x"}'.encode(), 400, 40001),
    (b'{"app_id": "a\\u0000b", "timestamp": "1", "sign": "x"}', 400, 40001),
])
def test_hostile_token_requests_are_refused_cleanly(platform, body, status, code):
    response = requests.post(f"{platform.url}/oms/auth/token", data=body, timeout=10)
    assert response.status_code == status
    assert response.json()["code"] == code


def test_the_data_folder_is_private_to_the_platform_user(platform, caller):
    """It holds auth.db (app secrets), device.db (device secrets), the JWT secret."""
    caller.post("/pms/system/setting/info")
    data_dir = platform.stack.data_dir
    assert (data_dir / "auth.db").exists() and (data_dir / "device.db").exists()
    open_to_others = [str(path.relative_to(data_dir)) for path in [data_dir, *data_dir.rglob("*")]
                      if not path.is_symlink() and path.stat().st_mode & 0o077]
    assert open_to_others == []


@pytest.mark.parametrize("path", ["/oms/product/detail/%00", "/oms/user/detail/a%00b",
                                  "/pms/system/%00"])
def test_a_nul_in_the_path_is_an_envelope_not_a_bare_500(platform, caller, path):
    """nginx refuses such a request line itself; its answer is still the envelope."""
    response = caller.post(path, {})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 40000 and body["request_id"] == response.headers["X-Request-ID"]
