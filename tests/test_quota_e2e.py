"""Each app's request quota through the real gateway: a platform configured with a small
rate answers an app past it 429/42900 with ``Retry-After`` (whole seconds, at least 1),
from whichever service, while another app is served; after the wait it is served again."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

pytestmark = pytest.mark.e2e

RATE, BURST = 0.5, 4  # a token every 2 s
PATHS = ["/oms/product/list", "/oms/device/list", "/oms/user/list", "/oms/group/list",
         "/oms/produce/list", "/oms/device/command/logs/nope"]


@pytest.fixture(scope="module")
def limited(start_platform):
    return start_platform(OMS_QUOTA__RATE_PER_SECOND=str(RATE), OMS_QUOTA__BURST=str(BURST))


def _at_once(caller, count: int) -> list[requests.Response]:
    def one(i: int) -> requests.Response:
        return requests.post(f"{caller.base_url}{PATHS[i % len(PATHS)]}", json={},
                             headers={"Token": caller.token}, timeout=30)

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def test_an_app_past_its_rate_gets_429_with_retry_after(limited):
    busy = limited.new_caller("busy")
    answers = _at_once(busy, BURST + 8)
    served = [a for a in answers if a.status_code != 429]
    refused = [a for a in answers if a.status_code == 429]
    assert BURST <= len(served) <= BURST + 2, [a.status_code for a in answers]
    assert all(a.json()["code"] in (0, 40401) for a in served)
    for answer in refused:
        body = answer.json()
        assert body["code"] == 42900 and body["request_id"] == answer.headers["X-Request-ID"]
        retry_after = answer.headers["Retry-After"]
        assert retry_after.isdigit() and 1 <= int(retry_after) <= 2, retry_after
        assert answer.headers["Cache-Control"] == "no-store"
    calm = limited.new_caller("calm")  # a bucket of its own
    assert calm.post("/oms/product/list").status_code == 200
    time.sleep(max(int(a.headers["Retry-After"]) for a in refused))
    assert busy.post("/oms/product/list").status_code == 200


def test_signing_in_is_not_counted(limited):
    """The token endpoint keeps the gateway's per-address limit; an app its quota
    refuses still gets a token."""
    busy = limited.new_caller("busy-again")
    assert 429 in [a.status_code for a in _at_once(busy, BURST + 4)]
    assert busy.sign_in().token
