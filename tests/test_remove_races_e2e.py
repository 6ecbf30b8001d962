"""A thing is removed once (docs/security.md, hostile callers 3): twenty callers removing
the same product, batch, device, user, binding, group, member or group device at the same
moment through the gateway get exactly one 200, and 40401 for the others, on SQLite and
on PostgreSQL. Every remove endpoint the platform documents must have its case here."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable

import pytest
import requests

from oms_gateway.databases import service_databases

pytestmark = pytest.mark.e2e

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
CALLERS = 20


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def platform(request, start_platform):
    if request.param == "sqlite":
        yield request.getfixturevalue("shared_platform")
        return
    with service_databases(PG_ADMIN, "races") as env:  # a database per service
        platform = start_platform(**env)
        yield platform
        platform.stack.stop()


@pytest.fixture(scope="module")
def caller(platform):
    return platform.default_caller()


_serial = itertools.count(1)


def _name(kind: str) -> str:
    return f"race-{kind}-{next(_serial)}-{uuid.uuid4().hex[:6]}"


def _product(caller) -> dict:
    return caller.data("/oms/product/add", {"name": "race", "code": _name("p")})


def _batch(caller, amount: int = 1, confirm: bool = False) -> dict:
    batch = caller.data("/oms/produce/submit", {"name": "race", "amount": amount,
                                                "product_id": _product(caller)["id"],
                                                "batch_no": _name("b")})
    if confirm:
        caller.data(f"/oms/produce/confirm/{batch['id']}")
    return batch


def _device(caller) -> str:
    batch = _batch(caller, confirm=True)
    return caller.data(f"/oms/produce/device/{batch['id']}", {"page_size": 1})["list"][0]["id"]


def _user(caller) -> str:
    return caller.data("/oms/user/add", {"username": _name("u"), "password": "secret1"})["id"]


def _group(caller) -> str:
    return caller.data("/oms/group/add", {"name": _name("g"), "owner_id": _user(caller)})["id"]


def _binding(caller) -> tuple[str, dict]:
    user, device = _user(caller), _device(caller)
    caller.data("/oms/user/bind", {"user_id": user, "device_id": device})
    return "/oms/user/unbind", {"user_id": user, "device_id": device}


def _member(caller) -> tuple[str, dict]:
    group, user = _group(caller), _user(caller)
    caller.data(f"/oms/group/member/add/{group}", {"user_id": user})
    return f"/oms/group/member/remove/{group}", {"user_id": user}


def _group_device(caller) -> tuple[str, dict]:
    group, device = _group(caller), _device(caller)
    caller.data(f"/oms/group/device/add/{group}", {"device_id": device})
    return f"/oms/group/device/remove/{group}", {"device_id": device}


#: Every remove endpoint of the OpenAPI document -> a fresh thing to remove: (path, body).
CASES: dict[str, Callable[..., tuple[str, dict]]] = {
    "/oms/product/remove/{product_id}":
        lambda c: (f"/oms/product/remove/{_product(c)['id']}", {}),
    "/oms/produce/remove/{batch_id}":
        lambda c: (f"/oms/produce/remove/{_batch(c, amount=3)['id']}", {}),
    "/oms/device/remove/{device_id}": lambda c: (f"/oms/device/remove/{_device(c)}", {}),
    "/oms/user/remove/{user_id}": lambda c: (f"/oms/user/remove/{_user(c)}", {}),
    "/oms/user/unbind": _binding,
    "/oms/group/remove/{group_id}": lambda c: (f"/oms/group/remove/{_group(c)}", {}),
    "/oms/group/member/remove/{group_id}": _member,
    "/oms/group/device/remove/{group_id}": _group_device,
}


def _all_at_once(caller, path: str, body: dict) -> list[requests.Response]:
    """``CALLERS`` clients, each on a connection of its own, send the same remove at
    the same moment."""
    barrier = threading.Barrier(CALLERS)
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def send() -> None:
        with requests.Session() as http:
            http.post(f"{caller.base_url}/healthz", timeout=10)  # connected before the race
            barrier.wait(timeout=30)
            response = http.post(f"{caller.base_url}{path}", json=body,
                                 headers={"Token": caller.token}, timeout=60)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=send) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return answers


def test_every_remove_endpoint_has_a_race_case(platform):
    document = requests.get(f"{platform.url}/openapi.json", timeout=10).json()
    removes = {path for path in document["paths"]
               if "/remove" in path or path.endswith("/unbind")}
    assert removes and removes <= set(CASES), f"no race case for {sorted(removes - set(CASES))}"


@pytest.mark.parametrize("endpoint", list(CASES))
def test_twenty_concurrent_removes_succeed_once(caller, endpoint):
    path, body = CASES[endpoint](caller)
    answers = _all_at_once(caller, path, body)
    outcomes = sorted((a.status_code, a.json()["code"]) for a in answers)
    assert outcomes == [(200, 0)] + [(404, 40401)] * (CALLERS - 1), outcomes
    again = caller.post(path, body)  # and it is gone for good
    assert (again.status_code, again.json()["code"]) == (404, 40401)


def test_a_device_listed_in_concurrent_group_removes_is_removed_by_one(caller):
    """The list form answers 200 to all; each device is ``removed`` in one answer only."""
    group, devices = _group(caller), [_device(caller) for _ in range(2)]
    caller.data(f"/oms/group/device/add/{group}", {"device_ids": devices})
    answers = _all_at_once(caller, f"/oms/group/device/remove/{group}",
                           {"device_ids": devices})
    assert {a.status_code for a in answers} == {200}
    removed = [d for a in answers for d in a.json()["data"]["removed"]]
    assert sorted(removed) == sorted(devices), removed
    for answer in answers:
        data = answer.json()["data"]
        assert sorted(data["removed"] + data["absent"]) == sorted(devices)
