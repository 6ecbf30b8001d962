"""A device's latest reported properties: read for ``/oms/device/detail``, written by
the ingest worker. Functions flush, never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from device_service.models import DeviceProperty


def get_latest(*, session: Session, device_id: str) -> dict[str, tuple[Any, datetime]]:
    """``{identifier: (value, time)}``."""
    rows = session.execute(select(DeviceProperty.identifier, DeviceProperty.value,
                                  DeviceProperty.time)
                           .where(DeviceProperty.device_id == device_id)
                           .order_by(DeviceProperty.identifier))
    return {identifier: (value, time) for identifier, value, time in rows}


def upsert_latest(*, session: Session, rows: list[dict[str, Any]]) -> None:
    """Keep each ``(device_id, identifier)``'s newest value: a row replaces the stored one
    only when its time is not older. ``rows`` are ``{device_id, identifier, value, time}``;
    several for one key are reduced here to the newest (the last of equal times), since
    one statement may not touch a row twice."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["device_id"], row["identifier"])
        kept = newest.get(key)
        if kept is None or row["time"] >= kept["time"]:
            newest[key] = row
    if not newest:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(DeviceProperty)
    stmt = stmt.on_conflict_do_update(
        index_elements=[DeviceProperty.device_id, DeviceProperty.identifier],
        set_={"value": stmt.excluded.value, "time": stmt.excluded.time},
        where=DeviceProperty.time <= stmt.excluded.time)
    ordered = sorted(newest.values(), key=lambda r: (r["device_id"], r["identifier"]))
    session.execute(stmt, ordered)  # sorted: concurrent workers lock rows in one order
