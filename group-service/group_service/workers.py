"""The group service's worker: applies removals announced by the device and user
services. Delivery is at least once and in no guaranteed order, so each handler is
idempotent: bury the ids first (``oms_shared.bury``), then delete what names them."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from flask import Flask

from group_service import group_devices, groups, members
from group_service.db import db
from group_service.models import KnownDevice, KnownUser
from oms_shared import DevicesRemoved, UserRemoved, bury, consume, purge_buried, str_id

log = logging.getLogger("oms.group.workers")

KEEP_TOMBSTONES = timedelta(days=1)  # a claim only races a removal of seconds ago
PURGE_EVERY = 3600.0  # seconds


def devices_removed(app: Flask, event: DevicesRemoved) -> None:
    """Removed devices leave every group."""
    ids = [i for i in event.device_ids if str_id(i) is not None]
    with app.app_context(), db.scoped() as session:
        bury(session, KnownDevice, ids=ids, tenant=event.tenant)
        group_devices.delete_devices(session=session, tenant=event.tenant, device_ids=ids)


def user_removed(app: Flask, event: UserRemoved) -> None:
    """A removed user loses its memberships; groups it owned stay, without an owner."""
    if str_id(event.user_id) is None:
        return
    with app.app_context(), db.scoped() as session:
        bury(session, KnownUser, ids=[event.user_id], tenant=event.tenant)
        members.delete_user(session=session, tenant=event.tenant, user_id=event.user_id)
        groups.clear_owner(session=session, tenant=event.tenant, owner_id=event.user_id)


def purge(app: Flask) -> int:
    """Forget tombstones of removals applied more than a day ago."""
    with app.app_context(), db.scoped() as session:
        return sum(purge_buried(session, model, older_than=KEEP_TOMBSTONES)
                   for model in (KnownDevice, KnownUser))


def _purge_now_and_then(app: Flask, stop: threading.Event) -> None:
    while not stop.wait(PURGE_EVERY):
        try:
            purge(app)
        except Exception as exc:  # the database is away: try again next round
            log.warning("purging tombstones failed (%s)", type(exc).__name__)


def removals(app: Flask, stop: threading.Event) -> None:
    """Consume DevicesRemoved and UserRemoved in the group service's consumer group."""
    threading.Thread(target=_purge_now_and_then, args=(app, stop), daemon=True,
                     name="oms-group-purge").start()
    consume(app.extensions["oms"], stop, {
        DevicesRemoved: lambda event: devices_removed(app, event),
        UserRemoved: lambda event: user_removed(app, event),
    })
