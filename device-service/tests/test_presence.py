"""Presence's reconcile after a restart, against a made-up management API listing: who
is no longer connected goes offline, who is still connected keeps (or gets back) its
connection map entries. End to end: ``tests/test_channel_e2e.py``."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from device_service import presence
from device_service.models import Device
from oms_shared import ProductSnapshot, utcnow
from oms_shared.testing import ApiClient


class Listing:
    """What ``GET /api/connections`` answers."""

    def __init__(self, connections: list[dict[str, str]]) -> None:
        self.connections = connections

    def raise_for_status(self) -> None:
        pass

    def json(self) -> list[dict[str, str]]:
        return self.connections


@pytest.fixture
def devices(app, session):
    """Three devices in stock, all marked online: two since a minute ago, one just now."""
    app.extensions["oms"].catalog.put(ProductSnapshot(
        id=10000, revision=1, tenant="t1", name="n", product_key="pk10000", status="enable",
        thing_model={"properties": [], "events": [], "services": []}))
    api = ApiClient(app, tenant="t1")
    batch = api.data("/oms/produce/submit", {"name": "n", "amount": 3, "product_id": 10000,
                                             "batch_no": "R1"})
    api.data(f"/oms/produce/confirm/{batch['id']}")
    rows = sorted(api.data(f"/oms/produce/device/{batch['id']}")["list"],
                  key=lambda d: d["device_name"])
    minute_ago = utcnow() - timedelta(minutes=1)
    for device, seen in zip(rows, (minute_ago, minute_ago, utcnow()), strict=True):
        session.execute(update(Device).where(Device.id == device["id"])
                        .values(status="online", last_online_at=seen))
    session.commit()
    return rows


@pytest.fixture
def far_east(monkeypatch):
    """Local time UTC+8, as on many a server: naive UTC times must not be read as local."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_reconcile_after_a_restart_that_emptied_redis(devices, session, oms, monkeypatch,
                                                      far_east):
    staying, gone, fresh = devices
    monkeypatch.setattr(presence, "_management", lambda _oms: ("http://broker", ("u", "p")))
    listing = Listing([{"name": "10.0.0.1:5000 -> 10.0.0.2:1883",
                        "user": f"{staying['device_name']}&{staying['product_key']}"},
                       {"name": "platform", "user": "oms"}])
    monkeypatch.setattr(presence.requests, "get", lambda *_a, **_k: listing)
    # the map knows nothing (a new Redis), but had one stale entry for the gone device
    oms.redis.hset(oms.keys.channel_device_connection(), gone["id"], "old")
    oms.redis.hset(oms.keys.channel_connections(), "old", gone["id"])

    assert presence.reconcile(session, oms) == 1
    session.commit()
    status = dict(session.execute(select(Device.id, Device.status)).all())
    # the one connected a moment ago may not be listed yet: it is left online
    assert (status[staying["id"]], status[gone["id"]], status[fresh["id"]]) == (
        "online", "offline", "online")
    name = "10.0.0.1:5000 -> 10.0.0.2:1883"
    assert oms.redis.hgetall(oms.keys.channel_device_connection()) == {staying["id"]: name}
    assert oms.redis.hgetall(oms.keys.channel_connections()) == {name: staying["id"]}

    # so the staying device's departure is seen, like any other
    presence.apply(session, oms, "connection.closed", {"name": name.encode()})
    session.commit()
    assert session.scalar(select(Device.status).where(Device.id == staying["id"])) == "offline"
