"""The property and event log endpoints (newest first, offset and cursor paging,
filters, tenancy), the device's latest properties, and the retention purge."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from device_service import ingest, logs
from device_service.db import db
from device_service.ingest import Message
from device_service.models import EventLog, PropertyLog, RejectedMessage
from device_service.schemas import LogCursor
from oms_shared import ProductSnapshot, parse_thing_model
from oms_shared.testing import ApiClient

T0 = 1764316800000  # 2025-11-28T08:00:00.000Z
MODEL = {
    "properties": [{"identifier": "temperature", "dataType": {"type": "int"}},
                   {"identifier": "serial", "accessMode": "r", "dataType": {"type": "text"}}],
    "events": [{"identifier": "alarm", "type": "alert"}],
}


def publish_products(app) -> None:
    app.extensions["oms"].catalog.put(ProductSnapshot(
        id=10000, revision=1, tenant="t1", name="n", product_key="pk10000", status="enable",
        thing_model=MODEL))


def stocked(api: ApiClient) -> list[dict[str, Any]]:
    batch = api.data("/oms/produce/submit", {"name": "n", "amount": 2, "product_id": 10000,
                                             "batch_no": "B1"})
    api.data(f"/oms/produce/confirm/{batch['id']}")
    return api.data(f"/oms/produce/device/{batch['id']}")["list"]


def message(device: dict[str, Any], identifier: str = "property", **payload: Any) -> Message:
    return Message(routing_key=f".sys.{device['product_key']}.{device['device_name']}"
                               f".thing.event.{identifier}.post",
                   body=json.dumps(payload).encode())


@pytest.fixture
def api(app) -> ApiClient:
    publish_products(app)
    return ApiClient(app, tenant="t1")


@pytest.fixture
def device(api, session, oms):
    """A device with 25 property rows: temperature at T0+i s (i = 0..19) and four more
    at T0+19 s (ties, ordered by id), serial at T0+100 s; 5 events; another device's row."""
    [device, other] = stocked(api)
    models = ingest.CatalogModels(oms)
    batch = [message(device, id=f"m{i}", time=T0 + 1000 * i, params={"temperature": i})
             for i in range(20)]
    batch += [message(device, id=f"tie{i}", time=T0 + 19000, params={"temperature": 100 + i})
              for i in range(4)]
    batch += [message(device, id="s", time=T0 + 100_000, params={"serial": "SN"})]
    batch += [message(other, id="o", time=T0, params={"temperature": 1})]
    ingest.store(session, batch, models=models)
    ingest.store(session, [message(device, "alarm", id=f"e{i}", time=T0 + i,
                                   params={"level": i % 3}) for i in range(5)], models=models)
    session.commit()
    return device


def _all(session) -> list[tuple[str, str]]:
    """The device's property rows, newest first, as the API should order them."""
    rows = session.execute(select(PropertyLog.message_id, PropertyLog.identifier)
                           .where(PropertyLog.message_id != "o")
                           .order_by(PropertyLog.time.desc(), PropertyLog.id.desc())).all()
    return [tuple(r) for r in rows]


def test_property_logs_newest_first_by_page(api, device, session):
    url = f"/oms/device/property/logs/{device['id']}"
    first = api.data(url, {"page_size": 5})
    assert first["total"] == 25 and first["page"] == 1 and first["page_size"] == 5
    assert first["list"][0] == {"identifier": "serial", "value": "SN", "message_id": "s",
                                "time": "2025-11-28T08:01:40.000Z"}
    assert [r["message_id"] for r in first["list"]][1:] == ["tie3", "tie2", "tie1", "tie0"]
    third = api.data(url, {"page_size": 5, "page": 3})
    assert [(r["message_id"], r["identifier"]) for r in third["list"]] == _all(session)[10:15]
    empty = api.data(url, {"page": 9})
    assert empty["list"] == [] and empty["total"] == 25 and empty["next_cursor"] is None


def test_a_cursor_walk_sees_every_row_once_in_order(api, device, session):
    url = f"/oms/device/property/logs/{device['id']}"
    seen, body, pages = [], {"page_size": 7}, 0
    while True:
        page = api.data(url, body)
        pages += 1
        assert page["total"] == 25
        seen += [(r["message_id"], r["identifier"]) for r in page["list"]]
        if page["next_cursor"] is None:
            break
        body = {"page_size": 7, "cursor": page["next_cursor"]}
    assert seen == _all(session) and pages == 4
    # the cursor continues the same sequence offset paging shows
    first = api.data(url, {"page_size": 3})
    after = api.data(url, {"page_size": 3, "cursor": first["next_cursor"], "page": 50})
    assert after["list"] == api.data(url, {"page_size": 3, "page": 2})["list"]


@pytest.fixture
def counts(app):
    """The ``count(*)`` statements the database is sent, as a list that grows."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        if "count(" in statement.lower():
            seen.append(statement)

    engine = app.extensions["oms_db"].engine
    event.listen(engine, "before_cursor_execute", note)
    yield seen
    event.remove(engine, "before_cursor_execute", note)


def test_a_walk_counts_once_and_carries_the_total(api, device, session, counts):
    url = f"/oms/device/property/logs/{device['id']}"
    first = api.data(url, {"page_size": 7})
    assert first["total"] == 25 and len(counts) == 1
    # a report arriving during the walk: the walk keeps the total it began with
    ingest.store(session, [message(device, id="late", time=T0 + 200_000,
                                   params={"temperature": 1})],
                 models=ingest.CatalogModels(api.app.extensions["oms"]))
    session.commit()
    body = {"page_size": 7, "cursor": first["next_cursor"]}
    while True:
        page = api.data(url, body)
        assert page["total"] == 25
        if page["next_cursor"] is None:
            break
        body["cursor"] = page["next_cursor"]
    assert len(counts) == 1  # the cursor pages counted nothing
    assert api.data(url, {"page_size": 7})["total"] == 26  # a new walk counts anew
    # a cursor used with other filters, or one without a total, is counted again
    again = api.data(url, {"page_size": 7, "identifier": "temperature",
                           "cursor": first["next_cursor"]})
    assert again["total"] == 25 - 1 + 1  # temperature rows: all but serial, plus late
    plain = LogCursor(time=datetime(2025, 11, 28, 8, 0, 19, tzinfo=UTC), id=10**9).encode()
    assert api.data(url, {"cursor": plain})["total"] == 26


def test_the_last_page_needs_no_count(api, device, counts):
    url = f"/oms/device/property/logs/{device['id']}"
    assert api.data(url, {"page_size": 100})["total"] == 25
    assert api.data(url, {"page_size": 10, "page": 3})["total"] == 25
    assert counts == []
    assert api.data(url, {"page_size": 10, "page": 4})["total"] == 25  # past the end
    assert len(counts) == 1


def test_filters(api, device):
    url = f"/oms/device/property/logs/{device['id']}"
    serial = api.data(url, {"identifier": "serial"})
    assert serial["total"] == 1 and serial["list"][0]["value"] == "SN"
    window = api.data(url, {"start_time": "2025-11-28T08:00:03.000Z", "end_time": T0 + 5000})
    assert [r["value"] for r in window["list"]] == [5, 4, 3] and window["total"] == 3
    walked = api.data(url, {"identifier": "temperature", "page_size": 2,
                            "start_time": str(T0 + 18000)})
    assert [r["value"] for r in walked["list"]] == [103, 102] and walked["total"] == 6
    rest = api.data(url, {"identifier": "temperature", "page_size": 10,
                          "start_time": str(T0 + 18000), "cursor": walked["next_cursor"]})
    assert [r["value"] for r in rest["list"]] == [101, 100, 19, 18]
    assert rest["next_cursor"] is None


def test_event_logs(api, device):
    page = api.data(f"/oms/device/event/logs/{device['id']}", {"page_size": 2})
    assert page["total"] == 5 and page["next_cursor"]
    assert page["list"][0] == {"identifier": "alarm", "type": "alert", "params": {"level": 1},
                               "message_id": "e4", "time": "2025-11-28T08:00:00.004Z"}
    rest = api.data(f"/oms/device/event/logs/{device['id']}",
                    {"page_size": 10, "cursor": page["next_cursor"]})
    assert [r["message_id"] for r in rest["list"]] == ["e2", "e1", "e0"]
    assert api.data(f"/oms/device/event/logs/{device['id']}", {"identifier": "x"})["total"] == 0


def test_the_detail_shows_the_latest_properties(api, device):
    detail = api.data(f"/oms/device/detail/{device['id']}")
    assert detail["properties"] == {
        "serial": {"value": "SN", "time": "2025-11-28T08:01:40.000Z"},
        "temperature": {"value": 103, "time": "2025-11-28T08:00:19.000Z"}}


@pytest.mark.parametrize("kind", ["property", "event"])
def test_other_tenants_and_bad_requests(api, app, device, kind):
    url = f"/oms/device/{kind}/logs/{device['id']}"
    ApiClient(app, tenant="t2").error(url, status=404, code=40401)
    api.error(f"/oms/device/{kind}/logs/nope", status=404, code=40401)
    for body in ({"cursor": "garbage!"}, {"cursor": "MTox"[:3]}, {"start_time": "yesterday"},
                 {"end_time": 1.5}, {"start_time": T0 + 1, "end_time": T0},
                 {"page_size": 501}, {"identifier": "a/b"}, {"limit": 1}):
        api.error(url, body, status=400, code=40001)


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_retention_removes_old_rows_only(api, device, session):
    # age the first 22 property rows, 2 events and a rejected report
    old = datetime.now(UTC) - timedelta(days=40)
    session.execute(PropertyLog.__table__.update().where(
        PropertyLog.id.in_(select(PropertyLog.id).order_by(PropertyLog.id).limit(22)))
        .values(received_at=old))
    session.execute(EventLog.__table__.update().where(
        EventLog.id.in_(select(EventLog.id).order_by(EventLog.id).limit(2)))
        .values(received_at=old))
    ingest.store(session, [message(device, id="bad", params={"temperature": 999})],
                 models=lambda *_: parse_thing_model({"properties": ["serial"]}))
    session.execute(RejectedMessage.__table__.update().values(received_at=old))
    session.commit()
    cutoff = datetime.now(UTC) - timedelta(days=30)
    removed, done = logs.purge(sessionmaker=db.sessionmaker, before=cutoff, chunk=5,
                               budget=iter([True] * 3 + [False]).__next__)
    assert (removed, done) == (15, False)  # three chunks, then out of time
    removed, done = logs.purge(sessionmaker=db.sessionmaker, before=cutoff, chunk=5)
    assert (removed, done) == (7 + 2 + 1, True)
    assert (_count(session, PropertyLog), _count(session, EventLog),
            _count(session, RejectedMessage)) == (4, 3, 0)
    assert logs.purge(sessionmaker=db.sessionmaker, before=cutoff) == (0, True)
    assert api.data(f"/oms/device/property/logs/{device['id']}")["total"] == 3
