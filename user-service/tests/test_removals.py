"""Removed devices lose their bindings (the worker's DevicesRemoved handler), and a bind
racing the removal of its device never survives it, in either order."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from oms_shared import DevicesRemoved, publish_now, utcnow
from oms_shared.testing import ApiClient, wait_until
from user_service import flows, workers
from user_service.db import db
from user_service.models import KnownDevice
from user_service.schemas import BindingCreate


def removed(*device_ids: str, tenant: str = "t1") -> DevicesRemoved:
    return DevicesRemoved(tenant=tenant, product_id=20000, device_ids=list(device_ids))


def bindings_of(api: ApiClient, device_id: str) -> dict[str, str]:
    return api.data(f"/internal/user/bindings/{device_id}")["bindings"]


def test_the_handler_deletes_the_bindings_and_is_idempotent(api, app, add_user, stock):
    ann, bob = add_user("ann"), add_user("bob")
    gone, kept = stock(2)
    for user in (ann, bob):
        api.data("/oms/user/bind", {"user_id": user["id"], "device_id": gone})
    api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": kept, "role": "owner"})
    for _ in range(2):  # delivered twice: the same outcome
        workers.apply_devices_removed(app, removed(gone))
        assert bindings_of(api, gone) == {}
        assert bindings_of(api, kept) == {ann["id"]: "owner"}
        assert [r["device_id"] for r in api.data(f"/oms/user/device/{ann['id']}")["list"]] == [
            kept]
        assert api.data(f"/oms/user/device/{bob['id']}")["total"] == 0


def test_a_bind_after_the_removal_was_applied_is_40401(live_api, live_app, stock):
    """The device service still answers for the device (its event overtook nothing):
    the tombstone alone refuses the bind."""
    ann = live_api.data("/oms/user/add", {"username": "ann", "password": "123456"})
    device = stock()[0]
    workers.apply_devices_removed(live_app, removed(device))
    live_api.error("/oms/user/bind", {"user_id": ann["id"], "device_id": device},
                   status=404, code=40401)
    assert bindings_of(live_api, device) == {}


def test_a_bind_waiting_on_an_uncommitted_removal_is_refused(live_api, live_app, stock):
    ann = live_api.data("/oms/user/add", {"username": "ann", "password": "123456"})
    device = stock()[0]
    answers: list[dict] = []
    with live_app.app_context():
        removal = db.sessionmaker()
        with removal.begin():
            flows.apply_devices_removed(session=removal, oms=live_app.extensions["oms"],
                                        event=removed(device))
            bind = threading.Thread(target=lambda: answers.append(live_api.post(
                "/oms/user/bind", {"user_id": ann["id"], "device_id": device}).get_json()))
            bind.start()
            bind.join(0.5)
            assert bind.is_alive(), "the bind should wait for the removal's transaction"
        removal.close()
    bind.join(15)
    assert answers and answers[0]["code"] == 40401, answers
    assert bindings_of(live_api, device) == {}


def test_a_bind_committed_first_is_deleted_by_the_removal(live_api, live_app, stock):
    ann = live_api.data("/oms/user/add", {"username": "ann", "password": "123456"})
    device = stock()[0]
    with live_app.test_request_context(headers={"Token": live_api.token}):
        session = db.sessionmaker()
        flows.bind(session=session, oms=live_app.extensions["oms"], tenant="t1",
                   data=BindingCreate(user_id=ann["id"], device_id=device, role="owner"))
        removal = threading.Thread(target=workers.apply_devices_removed,
                                   args=(live_app, removed(device)))
        removal.start()
        removal.join(0.5)
        assert removal.is_alive(), "the removal should wait for the bind's transaction"
        session.commit()
        session.close()
    removal.join(15)
    assert not removal.is_alive()
    assert bindings_of(live_api, device) == {}
    assert live_api.data(f"/oms/user/device/{ann['id']}")["total"] == 0


def test_the_worker_consumes_removals_published_while_it_was_stopped(live_api, live_app,
                                                                      stock):
    ann = live_api.data("/oms/user/add", {"username": "ann", "password": "123456"})
    devices = stock(3)
    for device in devices:
        live_api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device})
    oms = live_app.extensions["oms"]
    publish_now(oms.redis, oms.keys, removed(*devices[:2]))
    stop = threading.Event()
    worker = threading.Thread(target=workers.removals, args=(live_app, stop))
    worker.start()
    try:
        wait_until(lambda: live_api.data(f"/oms/user/device/{ann['id']}")["total"] == 1,
                   what="the removed devices' bindings to go")
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()
    assert [r["device_id"] for r in live_api.data(f"/oms/user/device/{ann['id']}")["list"]
            ] == [devices[2]]


def test_purge_forgets_only_day_old_tombstones(app):
    now = utcnow()
    with app.app_context(), db.scoped() as session:
        session.add_all([KnownDevice(id="old", tenant="t1", removed_at=now - timedelta(days=2)),
                         KnownDevice(id="fresh", tenant="t1", removed_at=now),
                         KnownDevice(id="alive", tenant="t1", removed_at=None)])
    assert workers.purge(app) == 1
    with app.app_context(), db.scoped() as session:
        assert sorted(session.scalars(select(KnownDevice.id))) == ["alive", "fresh"]
