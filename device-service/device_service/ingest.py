"""Ingest: what devices report, stored, and answered.

Devices publish over MQTT to ``/sys/{pk}/{dn}/thing/event/property/post`` (a property
report) and ``/sys/{pk}/{dn}/thing/event/{identifier}/post`` (an event). The broker
hands both to AMQP's ``amq.topic`` as routing keys ``.sys.{pk}.{dn}.thing.event.*.post``;
the durable queue ``oms.ingest`` collects them for any number of workers (competing
consumers).

A worker takes up to ``BATCH`` deliveries (or what came within ``LINGER`` seconds),
stores them in one transaction (:func:`store`), commits, publishes the replies, and
only then acknowledges the deliveries. A worker killed anywhere before the
acknowledgement gets its messages delivered again, and storing them again stores
nothing twice: each row is unique on (device, message id[, identifier]) and inserted
with ``ON CONFLICT DO NOTHING``; the latest properties are only taken from rows really
inserted, and only when their time is not older than the stored one.

A report the product's thing model refuses is answered with code 460 and kept as a
:class:`~device_service.models.RejectedMessage`; a malformed one (no object, bad
``params`` or ``time``) with 400 when it has an id. A message of an unknown, pending
or disabled device, or one that is not JSON or has no id, gets no answer (there is no
one, or nothing, to answer). Nothing a device sends stops the worker.

The worker also removes logs older than ``broker.log_retention_days``, a bounded slice
at a time, every ``PURGE_EVERY`` seconds.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pika
import pika.exceptions
from flask import Flask
from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from device_service import logs, properties
from device_service.db import db
from device_service.models import Device, EventLog, PropertyLog, RejectedMessage
from oms_shared import (
    NotFound,
    OMSState,
    ThingModel,
    ValidationFailed,
    check_event,
    check_report,
    fetch_product,
    parse_thing_model,
    service_token,
    utcnow,
)

__all__ = ["BINDING", "QUEUE", "CatalogModels", "Message", "Reply", "run", "store"]

log = logging.getLogger("oms.device.ingest")

QUEUE = "oms.ingest"
EXCHANGE = "amq.topic"
BINDING = ".sys.*.*.thing.event.*.post"
BATCH = 200
LINGER = 0.05  # seconds a partial batch waits for more
PREFETCH = 500
PURGE_EVERY = 300.0  # seconds between retention purges
PURGE_SLICE = 1.0  # seconds one purge may take (the connection's heartbeats wait)
MAX_BODY = 256 * 1024
PAYLOAD_KEPT = 4096  # characters of a rejected message kept
STOCKED = ("inactive", "online", "offline")  # disabled and pending devices are not heard
IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,64}$")
MESSAGE_ID = re.compile(r"^[\x21-\x7e]{1,64}$")  # printable ASCII, no spaces
MAX_EPOCH_MS = 253_402_300_799_999
OK, MALFORMED, INVALID = 200, 400, 460


@dataclass(frozen=True, slots=True)
class Message:
    """A delivery as the broker hands it: AMQP routing key and body."""

    routing_key: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """What to publish to ``amq.topic``: the device's ``post_reply`` topic."""

    routing_key: str
    body: bytes


ModelSource = Callable[[int, str], ThingModel | None]


@dataclass(slots=True)
class _Device:
    id: str
    tenant: str
    product_id: int


@dataclass(slots=True)
class _Batch:
    now: datetime
    properties: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)


def _topic(routing_key: str) -> tuple[str, str, str] | None:
    """``.sys.{pk}.{dn}.thing.event.{identifier}.post`` -> (pk, dn, identifier)."""
    parts = routing_key.split(".")
    if (len(parts) != 8 or parts[0] or parts[1] != "sys" or parts[4] != "thing"
            or parts[5] != "event" or parts[7] != "post"):
        return None
    pk, dn, identifier = parts[2], parts[3], parts[6]
    if not pk or not dn or not IDENTIFIER.match(identifier):
        return None
    return pk, dn, identifier


def _devices(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], _Device]:
    """The batch's devices that may be heard, in one query."""
    if not keys:
        return {}
    rows = session.execute(
        select(Device.product_key, Device.device_name, Device.id, Device.tenant,
               Device.product_id)
        .where(tuple_(Device.product_key, Device.device_name).in_(sorted(keys)),
               Device.status.in_(STOCKED)))
    return {(pk, dn): _Device(id=ident, tenant=tenant, product_id=product_id)
            for pk, dn, ident, tenant, product_id in rows}


def _message_id(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) and MESSAGE_ID.match(value) else None


def _time(value: Any, now: datetime) -> datetime | None:
    """The device's time (epoch ms), or now when it gave none; None when it is bad."""
    if value is None:
        return now
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    if not 0 <= value <= MAX_EPOCH_MS:
        return None
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def _reason(exc: ValidationFailed) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors[:10])[:1000]


def _reply(routing_key: str, message_id: str, code: int, message: str = "") -> Reply:
    body: dict[str, Any] = {"id": message_id, "code": code}
    if code == OK:
        body["data"] = {}
    else:
        body["message"] = message
    return Reply(routing_key=routing_key + "_reply",
                 body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def _one(batch: _Batch, message: Message, device: _Device, identifier: str,
         models: ModelSource, cache: dict[int, ThingModel | None]) -> None:
    """Check one message of a known device; add its rows and reply to ``batch``."""
    topic = message.routing_key.split(".", 4)[4].replace(".", "/")  # thing/event/x/post

    def reject(code: int, reason: str, message_id: str | None) -> None:
        batch.rejected.append({
            "device_id": device.id, "tenant": device.tenant, "topic": topic,
            "message_id": message_id, "code": code, "reason": reason,
            "payload": message.body[:PAYLOAD_KEPT].decode(errors="replace")[:PAYLOAD_KEPT],
            "received_at": batch.now})
        if message_id is not None:
            batch.replies.append(_reply(message.routing_key, message_id, code, reason))

    if len(message.body) > MAX_BODY:
        reject(MALFORMED, f"message larger than {MAX_BODY} bytes", None)
        return
    try:
        payload = json.loads(message.body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        reject(MALFORMED, "not valid JSON", None)
        return
    if not isinstance(payload, dict):
        reject(MALFORMED, "not a JSON object", None)
        return
    message_id = _message_id(payload.get("id"))
    if message_id is None:
        reject(MALFORMED, "id: 1-64 printable characters (or an integer) required", None)
        return
    reported = _time(payload.get("time"), batch.now)
    if reported is None:
        reject(MALFORMED, "time: must be epoch milliseconds", message_id)
        return
    params = payload.get("params", {})
    if not isinstance(params, dict):
        reject(MALFORMED, "params: must be an object", message_id)
        return
    if device.product_id not in cache:
        cache[device.product_id] = models(device.product_id, device.tenant)
    model = cache[device.product_id]
    row = {"device_id": device.id, "tenant": device.tenant, "time": reported,
           "received_at": batch.now, "message_id": message_id}
    try:
        if identifier == "property":
            if model is not None:
                check_report(model, params)
            elif bad := [k for k in params if not IDENTIFIER.match(k)]:
                raise ValidationFailed([{"field": f"params.{k[:64]}",
                                         "message": "unknown property"} for k in bad])
            batch.properties += [{**row, "identifier": key, "value": value}
                                 for key, value in params.items()]
        else:
            kind = check_event(model, identifier, params).type if model is not None else "info"
            batch.events.append({**row, "identifier": identifier, "type": kind,
                                 "params": params})
    except ValidationFailed as exc:
        reject(INVALID, _reason(exc), message_id)
        return
    batch.replies.append(_reply(message.routing_key, message_id, OK))


def _insert(session: Session, model: Any, rows: list[dict[str, Any]],
            unique: list[str]) -> set[tuple[Any, ...]]:
    """Insert rows, skipping those already stored; the keys of the rows really inserted."""
    if not rows:
        return set()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    columns = [getattr(model, name) for name in unique]
    stmt = dialect.insert(model).on_conflict_do_nothing(index_elements=columns)
    return {tuple(r) for r in session.execute(stmt.returning(*columns), rows)}


def store(session: Session, messages: Iterable[Message], *, models: ModelSource,
          now: datetime | None = None) -> list[Reply]:
    """Store one batch in the caller's transaction (flushes, never commits); return the
    replies to publish once it is committed."""
    batch = _Batch(now=now or utcnow())
    parsed = [(m, _topic(m.routing_key)) for m in messages]
    devices = _devices(session, {(t[0], t[1]) for _, t in parsed if t is not None})
    cache: dict[int, ThingModel | None] = {}
    for message, topic in parsed:
        device = devices.get((topic[0], topic[1])) if topic is not None else None
        if device is None or topic is None:
            log.debug("dropped a message on %s: no such device in stock",
                      message.routing_key[:200])
            continue
        _one(batch, message, device, topic[2], models, cache)
    inserted = _insert(session, PropertyLog, batch.properties,
                       ["device_id", "message_id", "identifier"])
    properties.upsert_latest(session=session, rows=[
        {"device_id": r["device_id"], "identifier": r["identifier"], "value": r["value"],
         "time": r["time"]}
        for r in batch.properties
        if (r["device_id"], r["message_id"], r["identifier"]) in inserted])
    _insert(session, EventLog, batch.events, ["device_id", "message_id"])
    _insert(session, RejectedMessage, batch.rejected, ["device_id", "topic", "message_id"])
    session.flush()
    return batch.replies


class CatalogModels:
    """A product's thing model, parsed once per revision: from the catalog snapshot in
    Redis, or, when the snapshot has expired, from the product service with this
    service's own token for the device's tenant. A product the service does not know
    (removed meanwhile) has no model: its devices' reports are stored unchecked. An
    unreachable product service raises, so the batch waits in the queue."""

    def __init__(self, oms: OMSState) -> None:
        self.oms = oms
        self._parsed: dict[tuple[int, int], ThingModel] = {}

    def __call__(self, product_id: int, tenant: str) -> ThingModel | None:
        try:
            snapshot = fetch_product(catalog=self.oms.catalog, client=self.oms.client,
                                     product_id=product_id, tenant=tenant,
                                     token=service_token(self.oms, tenant))
        except NotFound:
            return None
        key = (snapshot.id, snapshot.revision)
        model = self._parsed.get(key)
        if model is None:
            if len(self._parsed) > 1000:
                self._parsed.clear()
            model = self._parsed[key] = parse_thing_model(snapshot.thing_model)
        return model


# ---- the worker --------------------------------------------------------------------------


_TRANSIENT = (pika.exceptions.AMQPError, OSError, OperationalError, InterfaceError)


class _Worker:
    def __init__(self, app: Flask, stop: threading.Event, *, url: str, queue: str,
                 purge_every: float) -> None:
        self.app = app
        self.stop = stop
        self.url = url
        self.queue = queue
        self.purge_every = purge_every
        self.oms: OMSState = app.extensions["oms"]
        self.models = CatalogModels(self.oms)
        self.next_purge = 0.0

    def run(self) -> None:
        backoff = 0.5
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self._connected()
            except Exception as exc:  # the worker never stops on its own
                if isinstance(exc, _TRANSIENT):
                    log.warning("ingest: %s (%s); reconnecting in %.1f s",
                                type(exc).__name__, str(exc)[:200], backoff)
                else:
                    log.exception("ingest failed; reconnecting in %.1f s", backoff)
                if time.monotonic() - started > 30:
                    backoff = 0.5  # it had been running well: start the backoff anew
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)  # the broker is near: come back soon

    def _connected(self) -> None:
        params = pika.URLParameters(self.url)
        params.heartbeat = 30
        params.blocked_connection_timeout = 60
        connection = pika.BlockingConnection(params)
        try:
            channel = connection.channel()
            channel.queue_declare(self.queue, durable=True)
            channel.queue_bind(self.queue, EXCHANGE, routing_key=BINDING)
            channel.basic_qos(prefetch_count=PREFETCH)
            replies = connection.channel()
            replies.tx_select()  # one commit per batch: the broker has every reply
            log.info("ingest: consuming %s", self.queue)
            self._consume(channel, replies)
        finally:
            if connection.is_open:
                try:
                    connection.close()  # unacknowledged deliveries go back to the queue
                except Exception:
                    log.debug("closing the broker connection failed", exc_info=True)

    def _consume(self, channel: Any, replies: Any) -> None:
        pending: list[tuple[int, Message]] = []
        deadline = 0.0
        for method, _props, body in channel.consume(self.queue, inactivity_timeout=LINGER):
            if method is not None:
                if not pending:
                    deadline = time.monotonic() + LINGER
                pending.append((method.delivery_tag,
                                Message(routing_key=method.routing_key, body=body)))
            if pending and (method is None or len(pending) >= BATCH
                            or time.monotonic() >= deadline):
                self._flush(channel, replies, pending)
                pending = []
            if method is None or not pending:
                self._maybe_purge()
            if self.stop.is_set():
                if pending:
                    self._flush(channel, replies, pending)
                channel.cancel()
                return

    def _flush(self, channel: Any, replies: Any, pending: list[tuple[int, Message]]) -> None:
        answers = self._store([m for _, m in pending])
        for reply in answers:
            replies.basic_publish(EXCHANGE, reply.routing_key, reply.body,
                                  pika.BasicProperties(content_type="application/json"))
        if answers:
            replies.tx_commit()
        channel.basic_ack(delivery_tag=pending[-1][0], multiple=True)

    def _store(self, messages: list[Message]) -> list[Reply]:
        try:
            with db.scoped() as session:
                return store(session, messages, models=self.models)
        except (OperationalError, InterfaceError):
            raise  # the database is away: nothing acknowledged, all delivered again
        except SQLAlchemyError:
            if len(messages) == 1:  # one message the database refuses: never block on it
                log.exception("ingest: a message could not be stored; dropped: %s",
                              messages[0].routing_key[:200])
                return []
            log.warning("ingest: a batch failed; storing its messages one by one")
            return [r for m in messages for r in self._store([m])]

    def _maybe_purge(self) -> None:
        if time.monotonic() < self.next_purge:
            return
        days = self.oms.settings.broker.log_retention_days
        until = time.monotonic() + PURGE_SLICE
        try:
            removed, done = logs.purge(sessionmaker=db.sessionmaker,
                                       before=utcnow() - timedelta(days=days),
                                       budget=lambda: time.monotonic() < until)
        except SQLAlchemyError as exc:
            log.warning("ingest: purging old logs failed (%s)", type(exc).__name__)
            removed, done = 0, True
        if removed:
            log.info("ingest: removed %d log rows older than %d days", removed, days)
        self.next_purge = time.monotonic() + (self.purge_every if done else 5.0)


def run(app: Flask, stop: threading.Event, *, queue: str = QUEUE,
        purge_every: float = PURGE_EVERY) -> None:
    """The ingest worker (``device_service.ingest:run``): consume ``queue`` until
    ``stop``; reconnect with backoff whenever the broker or the database goes away."""
    url = app.extensions["oms"].settings.broker.amqp_url.get_secret_value()
    if not url:  # a platform without the device channel: nothing to read
        log.warning("no broker configured (broker.amqp_url): ingest is off")
        stop.wait()
        return
    _Worker(app, stop, url=url, queue=queue, purge_every=purge_every).run()
