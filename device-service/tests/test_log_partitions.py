"""Log retention: PostgreSQL's day partitions (made ahead, dropped whole, a default one
for any other day), SQLite's chunked delete, copies of a message recognised across
midnight, and the migration that partitions existing tables keeping their rows."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select, text

from device_service import ingest, logs
from device_service.app import create_app
from device_service.db import db
from device_service.ingest import Message
from device_service.models import EventLog, PropertyLog, RejectedMessage
from oms_shared import ProductSnapshot, parse_thing_model, utcnow
from oms_shared.testing import ApiClient, migration_config

MODEL = {"properties": [{"identifier": "temperature", "dataType": {"type": "int"}}],
         "events": [{"identifier": "alarm", "type": "alert"}]}
BEFORE = "228339792ad4"  # the revision before the logs were partitioned


@pytest.fixture
def device(app, session, oms):
    oms.catalog.put(ProductSnapshot(id=10000, revision=1, tenant="t1", name="n",
                                    product_key="pk10000", status="enable",
                                    thing_model=MODEL))
    api = ApiClient(app, tenant="t1")
    batch = api.data("/oms/produce/submit", {"name": "n", "amount": 1, "product_id": 10000,
                                             "batch_no": "P1"})
    api.data(f"/oms/produce/confirm/{batch['id']}")
    [device] = api.data(f"/oms/produce/device/{batch['id']}")["list"]
    return device


def message(device, identifier: str = "property", **payload) -> Message:
    return Message(routing_key=f".sys.{device['product_key']}.{device['device_name']}"
                               f".thing.event.{identifier}.post",
                   body=json.dumps(payload).encode())


def store_on(session, oms, device, day: datetime, tag: str) -> None:
    """A report of two properties, an event and a rejected report, stored at ``day``."""
    models = ingest.CatalogModels(oms)
    ingest.store(session, [message(device, id=f"{tag}-p", params={"temperature": 1}),
                           message(device, "alarm", id=f"{tag}-e", params={})],
                 models=models, now=day)
    ingest.store(session, [message(device, id=f"{tag}-r", params={"temperature": "hot"})],
                 models=lambda *_: parse_thing_model(MODEL), now=day)
    session.commit()


def counts(session, **where) -> tuple[int, int, int]:
    return tuple(session.scalar(select(func.count()).select_from(model).where(
        *[getattr(model, k) == v for k, v in where.items()]))
        for model in (PropertyLog, EventLog, RejectedMessage))


def in_default(session) -> int:
    return sum(session.scalar(text(f"SELECT count(*) FROM {name}_default"))  # noqa: S608
               for name in ("property_logs", "event_logs", "rejected_messages"))


def postgresql_only(session) -> None:
    if not logs.partitioned(session):
        pytest.skip("PostgreSQL partitions")


def test_a_partition_past_the_retention_is_dropped_whole(device, session, oms):
    postgresql_only(session)
    now = utcnow()
    old, recent = now - timedelta(days=40), now - timedelta(days=29)
    made = logs.make_partitions(sessionmaker=db.sessionmaker,
                                days=[old.date(), recent.date()])
    assert len(made) == 6  # a day each for the three tables
    store_on(session, oms, device, old, "old")
    store_on(session, oms, device, recent, "recent")
    assert in_default(session) == 0  # each row in its day's partition
    assert counts(session) == (2, 2, 2)

    kept = logs.maintain(sessionmaker=db.sessionmaker, now=now, retention_days=30)
    assert sorted(kept.dropped) == sorted(
        f"{t}_p{old:%Y%m%d}" for t in ("property_logs", "event_logs", "rejected_messages"))
    assert kept.removed == 0 and kept.done
    assert counts(session, received_on=recent.date()) == (1, 1, 1)
    assert counts(session) == (1, 1, 1)
    # today and the next days are ready; a second round has nothing to do
    days = logs.day_partitions(session=session, table=PropertyLog.__table__)
    assert {now.date() + timedelta(days=n) for n in range(logs.AHEAD + 1)} <= set(days)
    again = logs.maintain(sessionmaker=db.sessionmaker, now=now, retention_days=30)
    assert (again.created, again.dropped, again.removed) == ([], [], 0)


def test_a_day_without_a_partition_goes_to_the_default_one(device, session, oms):
    postgresql_only(session)
    day = datetime(2031, 5, 17, 12, tzinfo=UTC)  # no partition for it
    before = in_default(session)
    store_on(session, oms, device, day, "future")
    assert in_default(session) == before + 3
    assert counts(session, received_on=day.date()) == (1, 1, 1)
    # the day's partition cannot be made while its rows are in the default one: left so
    assert logs.make_partitions(sessionmaker=db.sessionmaker, days=[day.date()]) == []
    # past the retention, they are deleted row by row
    kept = logs.maintain(sessionmaker=db.sessionmaker, now=day + timedelta(days=31),
                         retention_days=30)
    assert kept.removed >= 3 and kept.done
    assert counts(session, received_on=day.date()) == (0, 0, 0)


def test_sqlite_purges_in_chunks(device, session, oms):
    if logs.partitioned(session):
        pytest.skip("SQLite has no partitions")
    now = utcnow()
    store_on(session, oms, device, now - timedelta(days=40), "old")
    store_on(session, oms, device, now - timedelta(days=29), "recent")
    kept = logs.maintain(sessionmaker=db.sessionmaker, now=now, retention_days=30)
    assert (kept.created, kept.dropped, kept.removed, kept.done) == ([], [], 3, True)
    assert counts(session) == (1, 1, 1)


@pytest.mark.parametrize("timed", [True, False], ids=["device-time", "no-device-time"])
def test_a_copy_after_midnight_is_stored_once(device, session, oms, timed):
    """The first delivery just before midnight, its copy (same payload) after: the day
    differs, the rows do not double. Without a device time both get their own time of
    storing, so only the message id can tell."""
    if logs.partitioned(session):
        logs.make_partitions(sessionmaker=db.sessionmaker,
                             days=[date(2030, 1, 1), date(2030, 1, 2)])
    late = datetime(2030, 1, 1, 23, 59, 58, tzinfo=UTC)
    extra = {"time": 1893542398000} if timed else {}
    batch = [message(device, id="m", params={"temperature": 5}, **extra),
             message(device, "alarm", id="e", params={}, **extra),
             message(device, id="r", params={"temperature": "x"}, **extra)]
    models = ingest.CatalogModels(oms)
    first = ingest.store(session, batch, models=models, now=late)
    copy = ingest.store(session, batch, models=models, now=late + timedelta(minutes=2))
    assert [json.loads(r.body)["code"] for r in copy] == [200, 200, 460]
    assert [r.body for r in copy] == [r.body for r in first]  # answered again, alike
    assert counts(session) == (1, 1, 1)
    assert counts(session, received_on=late.date()) == (1, 1, 1)
    # a new message the next day is stored, of course
    ingest.store(session, [message(device, id="m2", params={"temperature": 6})],
                 models=models, now=late + timedelta(minutes=2))
    assert counts(session) == (2, 1, 1)


# ---- the migration -------------------------------------------------------------------------


OLD_ROWS = {
    "property_logs": "INSERT INTO property_logs (id, device_id, tenant, identifier, value,"
                     " time, received_at, message_id) VALUES (:id, 'd1', 't', 'x', '1', :at,"
                     " :at, :mid)",
    "event_logs": "INSERT INTO event_logs (id, device_id, tenant, identifier, type, params,"
                  " time, received_at, message_id) VALUES (:id, 'd1', 't', 'alarm', 'info',"
                  " '{}', :at, :at, :mid)",
    "rejected_messages": "INSERT INTO rejected_messages (id, device_id, tenant, topic,"
                         " message_id, code, reason, payload, received_at) VALUES (:id, 'd1',"
                         " 't', 'thing/event/property/post', :mid, 460, 'r', '{}', :at)",
}


def _config(connection: Any, state: Any) -> Any:
    return migration_config(connection, state.metadata, service="device",
                            package="device_service")


def test_the_migration_partitions_existing_logs_keeping_their_rows(base_config,
                                                                   empty_database_url):
    app = create_app({**base_config, "device": {"database_url": empty_database_url}})
    state = app.extensions["oms_db"]
    postgresql = state.engine.dialect.name == "postgresql"
    now = datetime.now(UTC)
    stored = [(1, now - timedelta(days=3)), (2, now - timedelta(days=1)), (5, now)]
    try:
        with state.engine.begin() as conn:
            command.upgrade(_config(conn, state), BEFORE)
            for insert in OLD_ROWS.values():
                for ident, at in stored:
                    conn.execute(text(insert), {"id": ident, "at": at, "mid": f"m{ident}"})
            if postgresql:  # the sequence is where inserts left it
                for table in OLD_ROWS:
                    conn.execute(text(f"SELECT setval('{table}_id_seq', 5)"))
        state.migrate()
        with state.engine.begin() as conn:
            for table in OLD_ROWS:
                rows = conn.execute(text(
                    f"SELECT id, received_on FROM {table} ORDER BY id")).all()  # noqa: S608
                assert [(i, str(d)) for i, d in rows] == [
                    (i, str(at.date())) for i, at in stored]
            if postgresql:
                parts = conn.scalars(text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE i.inhparent = 'property_logs'::regclass")).all()
                days = {now.date() + timedelta(days=n) for n in range(-3, logs.AHEAD + 1)
                        if n != -2}
                assert set(parts) == {"property_logs_default"} | {
                    f"property_logs_p{d:%Y%m%d}" for d in days}
                # each old row sits in its day's partition
                assert conn.scalar(text("SELECT count(*) FROM property_logs_default")) == 0
        with state.engine.begin() as conn:  # ids are not handed out again
            new_id = conn.execute(PropertyLog.__table__.insert().returning(PropertyLog.id), {
                "device_id": "d1", "tenant": "t", "identifier": "x", "value": 2, "time": now,
                "received_at": now, "received_on": now.date(), "message_id": "new"}).scalar()
            assert new_id > 5
        # and back
        with state.engine.begin() as conn:
            command.downgrade(_config(conn, state), BEFORE)
        with state.engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM property_logs")) == 4
        state.migrate()
    finally:
        state.engine.dispose()
