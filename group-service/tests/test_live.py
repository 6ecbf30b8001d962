"""Real transactions (no rolled-back test transaction): the add-vs-removal race with both
running at once, in both orders, and the worker consuming events from Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from group_service import flows, workers
from group_service.app import create_app
from oms_shared import DevicesRemoved, UserRemoved, publish_now
from oms_shared.testing import ApiClient, wait_until


@pytest.fixture
def live(base_config: dict[str, Any], empty_database_url: str,
         peers: dict[str, Any]) -> Iterator[Flask]:
    app = create_app({**base_config, **peers, "group": {"database_url": empty_database_url},
                      "events": {"reclaim_after": 1.0}})
    app.extensions["oms_db"].create_all()
    yield app
    app.extensions["oms_db"].engine.dispose()


def _removed(*device_ids: str) -> DevicesRemoved:
    return DevicesRemoved(tenant="t1", product_id=10000, device_ids=list(device_ids))


def _in_thread(target: Any) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_removal_waits_for_an_add_that_claimed_first(live, user, devices, monkeypatch):
    """The add has claimed the device (its transaction open) when the removal arrives:
    the removal waits for the add to commit, then deletes what it added."""
    api = ApiClient(live, tenant="t1")
    group = api.data("/oms/group/add", {"name": "g", "owner_id": user()})
    ids = devices(2)
    claim = flows.claim_alive
    removal: list[threading.Thread] = []

    def claim_then_race(session, model, *, ids, tenant):
        alive = claim(session, model, ids=ids, tenant=tenant)
        removal.append(_in_thread(lambda: workers.devices_removed(live, _removed(*ids))))
        time.sleep(0.3)
        assert removal[0].is_alive()  # held back by our claim
        return alive

    monkeypatch.setattr(flows, "claim_alive", claim_then_race)
    assert api.data(f"/oms/group/device/add/{group['id']}", {"device_ids": ids})["added"] == ids
    removal[0].join(15)
    assert not removal[0].is_alive()
    assert api.data(f"/oms/group/detail/{group['id']}")["device_count"] == 0


def test_an_add_waits_for_a_removal_that_buried_first(live, user, devices, monkeypatch):
    """The device service said yes; the removal has buried the device (its transaction
    open) when the add claims: the add waits, then refuses."""
    api = ApiClient(live, tenant="t1")
    group = api.data("/oms/group/add", {"name": "g", "owner_id": user()})
    [device] = devices(1)
    check, bury = flows.device_briefs, workers.bury
    buried = threading.Event()

    def bury_and_hold(session, model, *, ids, tenant):
        bury(session, model, ids=ids, tenant=tenant)
        buried.set()
        time.sleep(0.3)  # the add is now waiting for this transaction

    def check_then_race(oms, ids):
        answer = check(oms, ids)
        _in_thread(lambda: workers.devices_removed(live, _removed(*ids)))
        assert buried.wait(10)
        return answer

    monkeypatch.setattr(workers, "bury", bury_and_hold)
    monkeypatch.setattr(flows, "device_briefs", check_then_race)
    api.error(f"/oms/group/device/add/{group['id']}", {"device_id": device}, status=404,
              code=40401)
    assert api.data(f"/oms/group/detail/{group['id']}")["device_count"] == 0


def test_the_worker_applies_removals_from_the_streams(live, user, devices):
    api = ApiClient(live, tenant="t1")
    owner, member = user(), user()
    group = api.data("/oms/group/add", {"name": "g", "owner_id": owner})
    api.data(f"/oms/group/member/add/{group['id']}", {"user_id": member})
    ids = devices(3)
    api.data(f"/oms/group/device/add/{group['id']}", {"device_ids": ids})
    oms = live.extensions["oms"]
    publish_now(oms.redis, oms.keys, _removed(*ids[:2]), UserRemoved(tenant="t1", user_id=owner),
                UserRemoved(tenant="t1", user_id=member))
    stop = threading.Event()
    worker = _in_thread(lambda: workers.removals(live, stop))
    try:
        detail = wait_until(lambda: (d := api.data(f"/oms/group/detail/{group['id']}"))
                            ["device_count"] == 1 and d["member_count"] == 0
                            and d["owner_id"] is None and d, what="the removals applied")
        assert detail["name"] == "g"
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()
