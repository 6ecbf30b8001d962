"""Queries over the property and event logs: pages newest first, and removal by age.

A page is either an offset page (``page``) or a keyset page after a cursor (the time
and id of the last row seen). The keyset page reads the index ``(device_id, time, id)``
(or ``(device_id, identifier, time, id)``) from the cursor on, so a page deep in a
device's history costs what the first page costs. ``total`` is the count of rows the
filters match: counted for an offset page (unless it is the last one, whose rows say
it), and carried in the cursor from the page that started the walk, so a keyset page
counts nothing (a cursor from other filters, or from before cursors carried it, is
counted again). Functions flush, never commit.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, column, delete, func, or_, select, text
from sqlalchemy import table as table_clause
from sqlalchemy.orm import Session

from device_service.models import LOG_TABLES, EventLog, PropertyLog, RejectedMessage
from device_service.schemas import LogCursor, LogQuery

LogModel = type[PropertyLog] | type[EventLog]
LOG_MODELS: tuple[Any, ...] = (PropertyLog, EventLog, RejectedMessage)

log = logging.getLogger("oms.device.logs")


def _scope(query: LogQuery) -> str:
    """The filters a total was counted for, in short."""
    key = f"{query.identifier}|{query.start_time}|{query.end_time}"
    return f"{zlib.crc32(key.encode()):08x}"


def _page(session: Session, model: Any, device_id: str,
          query: LogQuery) -> tuple[list[Any], int, str | None]:
    where = [model.device_id == device_id]
    if query.identifier is not None:
        where.append(model.identifier == query.identifier)
    if query.start_time is not None:
        where.append(model.time >= query.start_time)
    if query.end_time is not None:
        where.append(model.time <= query.end_time)
    stmt = select(model).where(*where).order_by(model.time.desc(), model.id.desc())
    scope, total = _scope(query), None
    if query.cursor is not None:
        at = query.cursor
        if at.total is not None and at.scope == scope:
            total = at.total  # counted on the walk's first page
        # ``time <= t`` bounds the index range; the OR only sorts out rows at ``t`` itself
        stmt = stmt.where(model.time <= at.time,
                          or_(model.time < at.time, and_(model.time == at.time,
                                                         model.id < at.id)))
    else:
        stmt = stmt.offset(query.offset)
    rows = list(session.scalars(stmt.limit(query.page_size + 1)))
    more = len(rows) > query.page_size
    rows = rows[:query.page_size]
    if total is None:
        if query.cursor is None and not more and (rows or query.offset == 0):
            total = query.offset + len(rows)  # the last page: what came before, and it
        else:
            total = session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    cursor = LogCursor(time=rows[-1].time, id=rows[-1].id, total=total,
                       scope=scope).encode() if more else None
    return rows, total, cursor


def property_page(*, session: Session, device_id: str,
                  query: LogQuery) -> tuple[list[PropertyLog], int, str | None]:
    """One page of a device's property log, newest first, and the next page's cursor
    (None on the last page)."""
    return _page(session, PropertyLog, device_id, query)


def event_page(*, session: Session, device_id: str,
               query: LogQuery) -> tuple[list[EventLog], int, str | None]:
    return _page(session, EventLog, device_id, query)


# ---- retention ------------------------------------------------------------------------------
# PostgreSQL: one partition a day per log table, made ``AHEAD`` days ahead, dropped whole
# once its day is past the retention; what fell into the default partition (a day with no
# partition of its own) is deleted in chunks, as SQLite's tables are.

AHEAD = 3  #: days of partitions kept ready after today
LOCK_TIMEOUT = "2s"  #: DDL that waits longer for the table (readers) gives up until next time
_DAY_PARTITION = re.compile(r"_p(\d{8})$")


def partitioned(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def partition_name(table: Table, day: date) -> str:
    return f"{table.name}_p{day:%Y%m%d}"


def day_partitions(*, session: Session, table: Table) -> dict[date, str]:
    """The table's day partitions (PostgreSQL): ``{day: name}``."""
    names = session.scalars(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = CAST(:parent AS regclass)"), {"parent": table.name})
    days = {}
    for name in names:
        if (found := _DAY_PARTITION.search(name)) and name == partition_name(
                table, day := datetime.strptime(found.group(1), "%Y%m%d").date()):
            days[day] = name
    return days


def _ddl_transaction(session: Session) -> bool:
    """Start a DDL transaction: short lock waits, one process at a time (the others skip)."""
    session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(hashtext(:key))"),
                               {"key": "oms-device-log-partitions"}))


def make_partitions(*, sessionmaker: Callable[[], Session], days: Iterable[date],
                    tables: Iterable[Table] = LOG_TABLES) -> list[str]:
    """Create each log table's missing partitions for ``days`` (PostgreSQL; nothing on
    SQLite), one short transaction each; returns the names created. A day whose rows
    already sit in the default partition keeps them there (PostgreSQL cannot create the
    partition then): they are deleted in chunks once old."""
    created: list[str] = []
    for table in tables:
        with sessionmaker() as session:
            if not partitioned(session):
                return created
            missing = sorted(set(days) - set(day_partitions(session=session, table=table)))
        for day in missing:
            with sessionmaker() as session, session.begin():
                if not _ddl_transaction(session):
                    return created  # another worker is at it
                name = partition_name(table, day)
                if day in day_partitions(session=session, table=table):
                    continue
                # names of our own tables, never input
                in_default = text(f"SELECT EXISTS (SELECT 1 FROM {table.name}_default"  # noqa: S608
                                  " WHERE received_on = :day)")
                if session.scalar(in_default, {"day": day}):
                    log.info("%s: rows of %s are in the default partition; no partition "
                             "for that day", table.name, day)
                    continue
                session.execute(text(
                    f"CREATE TABLE {name} PARTITION OF {table.name}"
                    f" FOR VALUES FROM ('{day.isoformat()}')"
                    f" TO ('{(day + timedelta(days=1)).isoformat()}')"))
            created.append(name)
    return created


def drop_partitions(*, sessionmaker: Callable[[], Session], before: datetime,
                    budget: Callable[[], bool] = lambda: True,
                    tables: Iterable[Table] = LOG_TABLES) -> tuple[list[str], bool]:
    """Drop the day partitions whose whole day lies before ``before`` (PostgreSQL), one
    transaction each, while ``budget()`` allows. Returns the names dropped and whether all
    that was due is gone."""
    last_day = before.astimezone(UTC).date()  # days before this one are wholly older
    dropped: list[str] = []
    for table in tables:
        with sessionmaker() as session:
            if not partitioned(session):
                return dropped, True
            due = sorted((day, name) for day, name in
                         day_partitions(session=session, table=table).items()
                         if day < last_day)
        for _day, name in due:
            if not budget():
                return dropped, False
            with sessionmaker() as session, session.begin():
                if not _ddl_transaction(session):
                    return dropped, False  # another worker is at it
                session.execute(text(f"DROP TABLE IF EXISTS {name}"))
            dropped.append(name)
    return dropped, True


def _chunked_tables(session: Session) -> list[Any]:
    """What the chunked delete walks: the log tables (SQLite), or their default partitions
    (PostgreSQL: the day partitions are dropped whole)."""
    if not partitioned(session):
        return [model.__table__ for model in LOG_MODELS]
    return [table_clause(f"{model.__tablename__}_default", column("id"), column("received_at"))
            for model in LOG_MODELS]


def purge(*, sessionmaker: Callable[[], Session], before: datetime, chunk: int = 5000,
          budget: Callable[[], bool] = lambda: True) -> tuple[int, bool]:
    """Remove log rows received before ``before`` row by row, oldest first, ``chunk`` rows
    per transaction, while ``budget()`` allows: SQLite's tables, PostgreSQL's default
    partitions. Ids grow with arrival, so the walk follows the primary key and needs no
    index on time. Returns the rows removed and whether all that was due is gone."""
    removed = 0
    with sessionmaker() as session:
        tables = _chunked_tables(session)
    for table in tables:
        while True:
            if not budget():
                return removed, False
            with sessionmaker() as session, session.begin():
                rows = session.execute(select(table.c.id, table.c.received_at)
                                       .order_by(table.c.id).limit(chunk)).all()
                due = [ident for ident, received in rows if _before(received, before)]
                if due:
                    session.execute(delete(table).where(table.c.id.in_(due)))
            removed += len(due)
            if len(due) < chunk:  # reached rows still kept (or the end)
                break
    return removed, True


@dataclass(frozen=True, slots=True)
class Maintenance:
    """What one round of :func:`maintain` did."""

    created: list[str]
    dropped: list[str]
    removed: int  # rows deleted one by one (SQLite, or PostgreSQL's default partitions)
    done: bool  # all that was due is gone


def maintain(*, sessionmaker: Callable[[], Session], now: datetime, retention_days: int,
             budget: Callable[[], bool] = lambda: True) -> Maintenance:
    """The ingest worker's periodic round: partitions for today and ``AHEAD`` days
    (PostgreSQL), then retention: day partitions past ``retention_days`` dropped whole,
    other rows past it deleted in chunks."""
    today = now.astimezone(UTC).date()
    created = make_partitions(sessionmaker=sessionmaker,
                              days=[today + timedelta(days=n) for n in range(AHEAD + 1)])
    before = now - timedelta(days=retention_days)
    dropped, done = drop_partitions(sessionmaker=sessionmaker, before=before, budget=budget)
    removed = 0
    if done:
        removed, done = purge(sessionmaker=sessionmaker, before=before, budget=budget)
    return Maintenance(created=created, dropped=dropped, removed=removed, done=done)


def _before(value: datetime, limit: datetime) -> bool:
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they are UTC
        value = value.replace(tzinfo=limit.tzinfo)
    return value < limit
