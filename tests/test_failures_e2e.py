"""What users see when things go wrong at the gateway: rate limits, dead services."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(start_platform):
    return start_platform(OMS_GATEWAY__TOKEN_RATE_PER_SECOND="5", OMS_GATEWAY__TOKEN_BURST="5")


def test_the_token_endpoint_is_rate_limited(platform):
    caller = platform.default_caller()
    body = caller.token_request()

    def hit(_: int) -> requests.Response:
        return requests.post(f"{platform.url}/oms/auth/token", json=body, timeout=10)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(hit, range(60)))
    limited = [r for r in responses if r.status_code == 429]
    assert limited, "no request was rate limited"
    assert all(r.json()["code"] == 42900 for r in limited)
    assert all(r.json()["request_id"] == r.headers["X-Request-ID"] for r in limited)
    assert any(r.status_code == 200 for r in responses)


def test_a_stopped_service_is_503_and_shows_down(platform):
    time.sleep(1.5)  # let the rate limit of the previous test drain
    caller = platform.default_caller()
    port = platform.stack.ports["group"][0]
    platform.stack.stop_child(f"group-{port}")
    response = caller.post("/oms/group/list")
    assert response.status_code == 503
    assert response.json()["code"] == 50300
    deadline = time.monotonic() + 6
    status = None
    while time.monotonic() < deadline:
        services = {s["name"]: s for s in caller.data("/pms/system/service/list")["list"]}
        status = services["group"]["status"]
        if status == "down":
            break
        time.sleep(0.3)
    assert status == "down"
    assert services["auth"]["status"] == "up"


def test_a_dead_peer_service_is_a_503_naming_it(platform):
    """Products need the device service for their counts: without it, a clear 503."""
    caller = platform.default_caller()
    made = caller.data("/oms/product/add", {"name": "lonely", "code": "peer-down"})
    port = platform.stack.ports["device"][0]
    platform.stack.stop_child(f"device-{port}")
    response = caller.post(f"/oms/product/detail/{made['id']}")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == 50300
    assert "device service" in body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
