"""Removals never leave dangling rows: the user and group services' consumers apply
removed devices and users, whenever they run, and finish what a killed one started."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest
import redis
from sqlalchemy import create_engine, text

from oms_gateway.databases import service_databases
from oms_shared import Keys, load_settings
from oms_shared.testing import wait_until

pytestmark = pytest.mark.e2e

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def platform(request, start_platform):
    """A platform of its own on each database: these tests stop and kill its consumers.
    Entries a dead consumer left pending are taken over after one second."""
    env = {"OMS_EVENTS__RECLAIM_AFTER": "1"}
    databases = contextlib.ExitStack()
    if request.param == "postgresql":  # a database per service, as in production
        env.update(databases.enter_context(service_databases(PG_ADMIN, "removals")))
    platform = start_platform(**env)
    yield platform
    platform.stack.stop()
    databases.close()


@pytest.fixture(scope="module")
def caller(platform):
    return platform.default_caller()


@pytest.fixture(scope="module")
def product(caller):
    return caller.data("/oms/product/add", {"name": "removals", "code": "removals-e2e"})


def _stocked(caller, product, batch_no, amount):
    batch = caller.data("/oms/produce/submit", {"name": batch_no, "amount": amount,
                                                "product_id": product["id"],
                                                "batch_no": batch_no})
    caller.data(f"/oms/produce/confirm/{batch['id']}")
    return [d["id"] for d in caller.data(f"/oms/produce/device/{batch['id']}",
                                         {"page_size": amount})["list"]]


def _consumers(platform) -> list[str]:
    return [name for name in platform.stack.worker_names()
            if name.startswith(("user-", "group-"))]


def test_removals_made_while_the_consumers_are_down_are_applied_when_they_return(
        platform, caller, product):
    devices = _stocked(caller, product, "DOWN-1", 3)
    owner = caller.data("/oms/user/add", {"username": "leaving", "password": "secret1"})
    staying = caller.data("/oms/user/add", {"username": "staying", "password": "secret1"})
    for device_id in devices:
        caller.data("/oms/user/bind", {"user_id": staying["id"], "device_id": device_id})
    caller.data("/oms/user/bind", {"user_id": owner["id"], "device_id": devices[2],
                                   "role": "owner"})
    group = caller.data("/oms/group/add", {"name": "down", "owner_id": owner["id"]})
    caller.data(f"/oms/group/member/add/{group['id']}", {"user_id": owner["id"]})
    caller.data(f"/oms/group/member/add/{group['id']}", {"user_id": staying["id"]})
    caller.data(f"/oms/group/device/add/{group['id']}", {"device_ids": devices})

    for name in _consumers(platform):
        platform.stack.stop_child(name)
    for device_id in devices[:2]:
        caller.data(f"/oms/device/remove/{device_id}")
    caller.data(f"/oms/user/remove/{owner['id']}")
    for name in _consumers(platform):
        platform.stack.start_worker(name)

    def settled() -> bool:
        bound = caller.data(f"/oms/user/device/{staying['id']}", {"page_size": 100})
        held = caller.data(f"/oms/group/device/{group['id']}", {"page_size": 100})
        detail = caller.data(f"/oms/group/detail/{group['id']}")
        return ([b["device_id"] for b in bound["list"]] == [devices[2]]
                and [d["device_id"] for d in held["list"]] == [devices[2]]
                and detail["owner_id"] is None and detail["member_count"] == 1)

    wait_until(settled, timeout=20, what="the removals applied by the returning consumers")
    members = caller.data(f"/oms/device/member/{devices[2]}")["list"]
    assert [m["user_id"] for m in members] == [staying["id"]]  # the removed owner's gone
    assert caller.data(f"/oms/group/member/{group['id']}")["list"][0]["user_id"] == \
        staying["id"]


def _pending(client: redis.Redis, stream: str, group: str) -> int:
    return int(client.xpending(stream, group)["pending"])


def test_a_consumer_killed_in_a_large_removal_is_finished_by_its_successor(
        platform, caller, product):
    """A pending 10,000-device batch removed: ten events of 1,000 ids for each consumer
    group. The user service's consumer dies with entries in hand; the one started in
    its place takes them over and every device is buried."""
    env = platform.stack.child_env
    client = redis.Redis.from_url(env["OMS_REDIS__URL"], decode_responses=True)
    stream = Keys(env["OMS_REDIS__PREFIX"]).stream("devices.removed")
    batch = caller.data("/oms/produce/submit", {"name": "big", "amount": 10_000,
                                                "product_id": product["id"],
                                                "batch_no": "BIG-REMOVAL"})
    ids = {d["id"] for d in caller.data(f"/oms/produce/device/{batch['id']}",
                                        {"page_size": 500})["list"]}
    [user_consumer] = [n for n in _consumers(platform) if n.startswith("user-")]
    child = next(c for c in platform.stack.children if c.name == user_consumer)
    pid = child.process.pid
    caller.data(f"/oms/produce/remove/{batch['id']}")
    wait_until(lambda: _pending(client, stream, "user") > 0, timeout=20, interval=0.002,
               what="the user consumer taking the removal's entries")
    os.kill(pid, signal.SIGKILL)
    assert _pending(client, stream, "user") > 0  # killed with work in hand
    wait_until(lambda: child.process.pid != pid, what="the consumer's restart")
    wait_until(lambda: _pending(client, stream, "user") == 0
               and int(client.xinfo_groups(stream)[0]["lag"] or 0) == 0,
               timeout=30, what="the successor finishing the removal")
    engine = create_engine(load_settings(environ=env).database_url("user"))
    with engine.connect() as connection:
        buried = set(connection.scalars(text(
            "SELECT id FROM known_devices WHERE removed_at IS NOT NULL")))
    engine.dispose()
    assert ids <= buried and len(buried & ids) == len(ids)
    client.close()
