"""The one place where "devices are gone" is announced.

Everything that hangs off a device elsewhere (user bindings, group membership,
broker credentials, logs) subscribes here instead of being called from the code
that removes devices. An announcement is made only once the removal has
committed, in two ways:

* in-process: the blinker signal :data:`devices_removed`, for hooks inside the
  device service (``devices_removed.connect(fn)``; ``fn(sender, tenant=...,
  device_ids=..., product_id=...)``);
* between services: an entry in the Redis stream ``{prefix}:events:devices.removed``
  with ``tenant``, ``product_id`` and ``device_ids`` (a JSON list), which other
  services read with a consumer group, so an announcement waits for a service that is
  down.
"""

from __future__ import annotations

import json
import logging

from blinker import Namespace
from sqlalchemy.orm import Session

from oms_shared import OMSState, on_commit

__all__ = ["STREAM", "announce_removed", "devices_removed"]

log = logging.getLogger("oms.device.lifecycle")
_signals = Namespace()
devices_removed = _signals.signal("devices-removed")
STREAM = "events:devices.removed"
STREAM_MAX_LENGTH = 100_000
CHUNK = 1000


def announce_removed(*, session: Session, oms: OMSState, tenant: str, product_id: int,
                     device_ids: list[str]) -> None:
    """Announce, after the commit, that these devices of one product are gone."""
    if not device_ids:
        return

    def publish() -> None:
        devices_removed.send(oms.service, tenant=tenant, product_id=product_id,
                             device_ids=device_ids)
        stream = f"{oms.settings.redis.prefix}:{STREAM}"
        pipe = oms.redis.pipeline(transaction=False)
        for start in range(0, len(device_ids), CHUNK):
            pipe.xadd(stream, {"tenant": tenant, "product_id": product_id,
                               "device_ids": json.dumps(device_ids[start:start + CHUNK])},
                      maxlen=STREAM_MAX_LENGTH, approximate=True)
        pipe.execute()

    on_commit(session, publish)
