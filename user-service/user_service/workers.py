"""The user service's worker: removed devices lose their bindings."""

from __future__ import annotations

import logging
import threading

from flask import Flask

from oms_shared import DevicesRemoved, consume
from user_service import flows
from user_service.db import db

log = logging.getLogger("oms.user.workers")
PURGE_EVERY = 3600.0  # seconds between purges of day-old tombstones


def apply_devices_removed(app: Flask, event: DevicesRemoved) -> None:
    """The handler: its own transaction; idempotent and order-free (at-least-once)."""
    with app.app_context(), db.scoped() as session:  # consumer threads have no context
        flows.apply_devices_removed(session=session, oms=app.extensions["oms"], event=event)


def purge(app: Flask) -> int:
    with app.app_context(), db.scoped() as session:
        return flows.purge_tombstones(session=session)


def _purge_loop(app: Flask, stop: threading.Event) -> None:
    while True:
        try:
            purge(app)
        except Exception as exc:  # the database is away: try again next round
            log.warning("purging tombstones failed (%s)", type(exc).__name__)
        if stop.wait(PURGE_EVERY):
            return


def removals(app: Flask, stop: threading.Event) -> None:
    """Consume DevicesRemoved in the service's group until ``stop``; purge now and then."""
    purger = threading.Thread(target=_purge_loop, args=(app, stop), daemon=True,
                              name="oms-user-purge")
    purger.start()
    consume(app.extensions["oms"], stop,
            {DevicesRemoved: lambda event: apply_devices_removed(app, event)})
    purger.join(5)
