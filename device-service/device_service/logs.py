"""Queries over the property and event logs: pages newest first, and removal by age.

A page is either an offset page (``page``) or a keyset page after a cursor (the time
and id of the last row seen). The keyset page reads the index ``(device_id, time, id)``
(or ``(device_id, identifier, time, id)``) from the cursor on, so a page deep in a
device's history costs what the first page costs; ``total`` is the count of rows the
filters match, whatever the page. Functions flush, never commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from device_service.models import EventLog, PropertyLog, RejectedMessage
from device_service.schemas import LogCursor, LogQuery

LogModel = type[PropertyLog] | type[EventLog]
LOG_MODELS: tuple[Any, ...] = (PropertyLog, EventLog, RejectedMessage)


def _page(session: Session, model: Any, device_id: str,
          query: LogQuery) -> tuple[list[Any], int, str | None]:
    where = [model.device_id == device_id]
    if query.identifier is not None:
        where.append(model.identifier == query.identifier)
    if query.start_time is not None:
        where.append(model.time >= query.start_time)
    if query.end_time is not None:
        where.append(model.time <= query.end_time)
    total = session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    stmt = select(model).where(*where).order_by(model.time.desc(), model.id.desc())
    if query.cursor is not None:
        at = query.cursor
        # ``time <= t`` bounds the index range; the OR only sorts out rows at ``t`` itself
        stmt = stmt.where(model.time <= at.time,
                          or_(model.time < at.time, and_(model.time == at.time,
                                                         model.id < at.id)))
    else:
        stmt = stmt.offset(query.offset)
    rows = list(session.scalars(stmt.limit(query.page_size + 1)))
    more = len(rows) > query.page_size
    rows = rows[:query.page_size]
    cursor = LogCursor(time=rows[-1].time, id=rows[-1].id).encode() if more else None
    return rows, total, cursor


def property_page(*, session: Session, device_id: str,
                  query: LogQuery) -> tuple[list[PropertyLog], int, str | None]:
    """One page of a device's property log, newest first, and the next page's cursor
    (None on the last page)."""
    return _page(session, PropertyLog, device_id, query)


def event_page(*, session: Session, device_id: str,
               query: LogQuery) -> tuple[list[EventLog], int, str | None]:
    return _page(session, EventLog, device_id, query)


def purge(*, sessionmaker: Callable[[], Session], before: datetime, chunk: int = 5000,
          budget: Callable[[], bool] = lambda: True) -> tuple[int, bool]:
    """Remove log rows received before ``before``, oldest first, ``chunk`` rows per
    transaction, while ``budget()`` allows. Ids grow with arrival, so the walk follows the
    primary key and needs no index on time. Returns the rows removed and whether all
    that was due is gone."""
    removed = 0
    for model in LOG_MODELS:
        while True:
            if not budget():
                return removed, False
            with sessionmaker() as session, session.begin():
                rows = session.execute(select(model.id, model.received_at)
                                       .order_by(model.id).limit(chunk)).all()
                due = [ident for ident, received in rows if _before(received, before)]
                if due:
                    session.execute(delete(model).where(model.id.in_(due)))
            removed += len(due)
            if len(due) < chunk:  # reached rows still kept (or the end)
                break
    return removed, True


def _before(value: datetime, limit: datetime) -> bool:
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they are UTC
        value = value.replace(tzinfo=limit.tzinfo)
    return value < limit
