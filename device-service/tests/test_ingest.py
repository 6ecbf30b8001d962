"""Ingest: what devices report is checked, stored once, answered; and the worker against
a real RabbitMQ (the system one at 127.0.0.1:5672, AMQP only: the test publishes what
the MQTT plugin would)."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime
from typing import Any

import pika
import pytest
from sqlalchemy import delete, func, select

from device_service import ingest
from device_service.app import create_app
from device_service.db import db
from device_service.ingest import CatalogModels, Message
from device_service.models import (
    Batch,
    Device,
    DeviceProperty,
    EventLog,
    PropertyLog,
    RejectedMessage,
)
from oms_shared import ProductSnapshot
from oms_shared.testing import ApiClient, wait_until

MODEL = {
    "properties": [
        {"identifier": "temperature",
         "dataType": {"type": "float", "specs": {"min": -40, "max": 120}}},
        {"identifier": "serial", "accessMode": "r", "dataType": {"type": "text"}},
    ],
    "events": [{"identifier": "alarm", "type": "alert", "outputData": [
        {"identifier": "level", "dataType": {"type": "int", "specs": {"max": 3}},
         "required": True}]}],
}
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def publish_products(app, tenant: str = "t1") -> None:
    catalog = app.extensions["oms"].catalog
    catalog.put(ProductSnapshot(id=10000, revision=1, tenant=tenant, name="温度计",
                                product_key="pk10000", status="enable", thing_model=MODEL))


def stocked(api: ApiClient, amount: int = 2, batch_no: str = "B1",
            confirm: bool = True) -> list[dict[str, Any]]:
    batch = api.data("/oms/produce/submit", {"name": "n", "amount": amount,
                                             "product_id": 10000, "batch_no": batch_no})
    if confirm:
        api.data(f"/oms/produce/confirm/{batch['id']}")
    return api.data(f"/oms/produce/device/{batch['id']}")["list"]


def message(device: dict[str, Any], identifier: str = "property", **payload: Any) -> Message:
    return raw(device, identifier, json.dumps(payload).encode())


def raw(device: dict[str, Any], identifier: str, body: bytes) -> Message:
    return Message(routing_key=f".sys.{device['product_key']}.{device['device_name']}"
                               f".thing.event.{identifier}.post", body=body)


def answers(replies) -> list[tuple[str, dict[str, Any]]]:
    return [(r.routing_key, json.loads(r.body)) for r in replies]


@pytest.fixture
def api(app) -> ApiClient:
    publish_products(app)
    return ApiClient(app, tenant="t1")


@pytest.fixture
def models(oms) -> CatalogModels:
    return CatalogModels(oms)


def count(session, model, **where: Any) -> int:
    stmt = select(func.count()).select_from(model)
    for key, value in where.items():
        stmt = stmt.where(getattr(model, key) == value)
    return session.scalar(stmt)


def test_a_report_is_stored_once_however_often_it_arrives(api, session, models):
    [device, _] = stocked(api)
    report = message(device, id="m1", params={"temperature": 21.5, "serial": "SN"},
                     time=1764316800000)
    for _ in range(2):  # a redelivery after a crash, and a duplicate within one batch
        replies = ingest.store(session, [report, report], models=models)
        assert answers(replies) == [(report.routing_key + "_reply",
                                     {"id": "m1", "code": 200, "data": {}})] * 2
    session.flush()
    rows = session.scalars(select(PropertyLog).order_by(PropertyLog.identifier)).all()
    assert [(r.identifier, r.value, r.message_id, r.device_id) for r in rows] == [
        ("serial", "SN", "m1", device["id"]), ("temperature", 21.5, "m1", device["id"])]
    assert rows[0].time.replace(tzinfo=UTC) == datetime(2025, 11, 28, 8, 0, tzinfo=UTC)
    event = message(device, "alarm", id=7, params={"level": 2})
    ingest.store(session, [event], models=models)
    ingest.store(session, [event], models=models)
    [stored] = session.scalars(select(EventLog)).all()
    assert (stored.identifier, stored.type, stored.params, stored.message_id) == (
        "alarm", "alert", {"level": 2}, "7")


def test_a_mixed_batch_gets_the_right_answers_and_rows(api, session, models):
    good, other = stocked(api, amount=2)
    pending = stocked(api, amount=1, batch_no="B2", confirm=False)[0]
    disabled = stocked(api, amount=1, batch_no="B3")[0]
    api.data(f"/oms/device/disable/{disabled['id']}")
    stranger = {**good, "device_name": "nosuchdevice"}
    batch = [
        message(good, id="ok1", params={"temperature": 20}),
        message(good, id="hot", params={"temperature": 500}),
        message(good, id="what", params={"humidity": 3}),
        message(good, id="badtime", params={"temperature": 1}, time="yesterday"),
        message(good, id="badparams", params=[1]),
        raw(good, "property", b"{not json"),
        message(good, params={"temperature": 1}),  # no id: nothing to answer
        message(other, "alarm", id="e1", params={"level": 1}),
        message(other, "alarm", id="e2", params={"level": 9}),
        message(other, "fire", id="e3", params={}),
        message(pending, id="p1", params={"temperature": 1}),
        message(disabled, id="d1", params={"temperature": 1}),
        message(stranger, id="s1", params={"temperature": 1}),
        Message(routing_key=".sys.pk10000.x.thing.service.property.set", body=b"{}"),
    ]
    got = {body["id"]: (key.split(".")[6], body) for key, body in answers(
        ingest.store(session, batch, models=models))}
    assert set(got) == {"ok1", "hot", "what", "badtime", "badparams", "e1", "e2", "e3"}
    assert {k: v[1]["code"] for k, v in got.items()} == {
        "ok1": 200, "hot": 460, "what": 460, "badtime": 400, "badparams": 400, "e1": 200,
        "e2": 460, "e3": 460}
    assert got["hot"][1]["message"] == "params.temperature: must be at most 120"
    assert got["what"][1]["message"] == "params.humidity: unknown property"
    assert got["e3"] == ("fire", {"id": "e3", "code": 460,
                                  "message": "identifier: unknown event 'fire'"})
    assert count(session, PropertyLog) == 1 and count(session, EventLog) == 1
    rejected = session.scalars(select(RejectedMessage).order_by(RejectedMessage.id)).all()
    assert [(r.message_id, r.code) for r in rejected] == [
        ("hot", 460), ("what", 460), ("badtime", 400), ("badparams", 400), (None, 400),
        (None, 400), ("e2", 460), ("e3", 460)]
    assert rejected[0].topic == "thing/event/property/post" and '"hot"' in rejected[0].payload
    assert {r.device_id for r in rejected} == {good["id"], other["id"]}


def test_the_latest_properties_keep_the_newest_time(api, session, models):
    [device, _] = stocked(api)

    def report(mid: str, ms: int, value: float) -> Message:
        return message(device, id=mid, time=ms, params={"temperature": value})

    ingest.store(session, [report("a", 2000, 2.0), report("b", 1000, 1.0)], models=models)
    ingest.store(session, [report("c", 1500, 1.5)], models=models)  # late: logged only
    session.commit()
    detail = api.data(f"/oms/device/detail/{device['id']}")
    assert detail["properties"] == {"temperature": {"value": 2.0,
                                                    "time": "1970-01-01T00:00:02.000Z"}}
    ingest.store(session, [report("d", 3000, 3.0), report("e", 3000, 3.5)], models=models)
    ingest.store(session, [report("b", 5000, 9.9)], models=models)  # "b" again: not stored
    session.commit()
    assert api.data(f"/oms/device/detail/{device['id']}")["properties"]["temperature"] == {
        "value": 3.5, "time": "1970-01-01T00:00:03.000Z"}
    assert count(session, PropertyLog) == 5
    assert count(session, DeviceProperty, device_id=device["id"]) == 1


def test_a_product_without_a_model_is_stored_unchecked(api, session):
    [device, _] = stocked(api)
    replies = ingest.store(session, [
        message(device, id="1", params={"anything": {"x": [1]}}),
        message(device, "whatever", id="2", params={"k": 1}),
        message(device, id="3", params={"no.dots": 1})], models=lambda *_: None)
    assert [json.loads(r.body)["code"] for r in replies] == [200, 200, 460]
    assert count(session, PropertyLog, identifier="anything") == 1
    assert count(session, EventLog, type="info") == 1


# ---- the worker against RabbitMQ ------------------------------------------------------------


@pytest.fixture
def committed_app(base_config, database_url):
    """A device app whose requests really commit (the worker reads from another thread)."""
    app = create_app({**base_config, "device": {"database_url": database_url},
                      "broker": {"amqp_url": AMQP_URL}})
    app.extensions["oms_db"].create_all()
    tenant = f"w{secrets.token_hex(4)}"
    publish_products(app, tenant)
    yield app, tenant
    with app.app_context(), db.scoped() as session:
        ids = select(Device.id).where(Device.tenant == tenant).scalar_subquery()
        for model in (PropertyLog, EventLog, RejectedMessage):
            session.execute(delete(model).where(model.tenant == tenant))
        session.execute(delete(DeviceProperty).where(DeviceProperty.device_id.in_(ids)))
        session.execute(delete(Device).where(Device.tenant == tenant))
        session.execute(delete(Batch).where(Batch.tenant == tenant))
    app.extensions["oms_db"].engine.dispose()


def test_the_worker_stores_acks_and_answers(committed_app):
    app, tenant = committed_app
    api = ApiClient(app, tenant=tenant)
    [device] = stocked(api, amount=1)
    queue = f"oms.ingest.test.{secrets.token_hex(4)}"
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    prefix = f".sys.{device['product_key']}.{device['device_name']}.thing.event"
    replies = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(replies, "amq.topic", routing_key=f"{prefix}.*.post_reply")
    stop = threading.Event()

    def work() -> None:
        with app.app_context():
            ingest.run(app, stop, queue=queue)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        wait_until(lambda: _bound(connection, queue), what="the ingest queue")
        bodies = [{"id": f"m{i}", "params": {"temperature": i}, "time": 1000 + i}
                  for i in range(30)]
        bodies += [bodies[0], {"id": "bad", "params": {"temperature": 999}}]
        for body in bodies:
            channel.basic_publish("amq.topic", f"{prefix}.property.post", json.dumps(body))
        channel.basic_publish("amq.topic", f"{prefix}.alarm.post",
                              json.dumps({"id": "e", "params": {"level": 3}}))

        def stored() -> int:
            with app.app_context(), db.scoped() as session:
                return (count(session, PropertyLog, device_id=device["id"])
                        + count(session, EventLog, device_id=device["id"]))

        wait_until(lambda: stored() == 31, what="31 rows")
        got: list[tuple[str, dict[str, Any]]] = []

        def read() -> bool:
            method, _props, body = channel.basic_get(replies, auto_ack=True)
            if method is not None:
                got.append((method.routing_key, json.loads(body)))
            return len(got) == 33

        wait_until(read, what="33 replies")
        assert sorted(b["code"] for _, b in got) == [200] * 32 + [460]
        assert (f"{prefix}.alarm.post_reply", {"id": "e", "code": 200, "data": {}}) in got
        detail = api.data(f"/oms/device/detail/{device['id']}")
        assert detail["properties"]["temperature"]["value"] == 29
        stop.set()
        worker.join(10)
        assert not worker.is_alive(), "the worker did not stop"
        # what it had not acknowledged would be back in the queue once it disconnected
        assert connection.channel().queue_declare(queue, passive=True).method.message_count == 0
    finally:
        stop.set()
        worker.join(10)
        connection.channel().queue_delete(queue)
        connection.close()


def _bound(connection, queue: str) -> bool:
    channel = connection.channel()
    try:
        channel.queue_declare(queue, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False

