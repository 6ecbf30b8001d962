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
nothing twice; the latest properties are only taken from rows really inserted, and only
when their time is not older than the stored one.

How a copy is recognised. On PostgreSQL the logs are partitioned by ``received_on``, the
UTC day of storing (``device_service.models``), and a partitioned table's unique
constraints must contain its partition key. The key cannot be the device's ``time``: a
report without one takes the time of storing, and a copy redelivered seconds or minutes
later would get another. Nor ``received_at`` itself, for the same reason. The UTC day
is the same for the first delivery and its copy unless midnight lies between them, so
each row is unique on (device, message id[, identifier], received_on) and inserted with
``ON CONFLICT DO NOTHING`` (which also settles two workers racing on one message), and
before inserting a batch looks up its keys in the day before (``DEDUPE_DAYS``: one index
probe per message in one partition) and leaves out what it finds. A copy is therefore
stored once as long as it comes within a day of the first (at least 24 hours, up to 48),
whatever the device's clock says; SQLite does the same on its unpartitioned tables.

A report the product's thing model refuses is answered with code 460 and kept as a
:class:`~device_service.models.RejectedMessage`; a malformed one (no object, bad
``params`` or ``time``) with 400 when it has an id. A message of an unknown, pending
or disabled device, or one that is not JSON or has no id, gets no answer (there is no
one, or nothing, to answer). Nothing a device sends stops the worker.

Every ``PURGE_EVERY`` seconds the worker also keeps the logs
(:func:`device_service.logs.maintain`): on PostgreSQL it makes the day partitions of
today and the next days, and drops those past ``broker.log_retention_days`` whole; the
rows that fell into a default partition, and SQLite's, are deleted a bounded slice at a
time.
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
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import String, and_, cast, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from device_service import logs, properties
from device_service.db import db
from device_service.models import Device, EventLog, PropertyLog, RejectedMessage
from oms_shared import (
    BatchConsumer,
    BrokerMessage,
    NotFound,
    OMSState,
    ThingModel,
    ValidationFailed,
    check_event,
    check_report,
    fetch_product,
    service_token,
    utcnow,
)

__all__ = ["BINDING", "QUEUE", "CatalogModels", "Message", "Reply", "run", "store"]

log = logging.getLogger("oms.device.ingest")

QUEUE = "oms.ingest"
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
DEDUPE_DAYS = 1  # days before the batch's own in which a copy is looked for
OK, MALFORMED, INVALID = 200, 400, 460


Message = BrokerMessage  # a delivery: AMQP routing key and body
Reply = BrokerMessage  # what to publish to amq.topic: the device's post_reply topic


ModelSource = Callable[[int, str], ThingModel | None]


@dataclass(slots=True)
class _Device:
    id: str
    tenant: str
    product_id: int


@dataclass(slots=True)
class _Batch:
    now: datetime
    day: date  # now's UTC day: the rows' partition
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
    if not pk or not dn or not IDENTIFIER.fullmatch(identifier):
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
    return value if isinstance(value, str) and MESSAGE_ID.fullmatch(value) else None


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
            "received_at": batch.now, "received_on": batch.day})
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
           "received_at": batch.now, "received_on": batch.day, "message_id": message_id}
    try:
        if identifier == "property":
            if model is not None:
                check_report(model, params)
            elif bad := [k for k in params if not IDENTIFIER.fullmatch(k)]:
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
    """Insert rows (all of one day) unless stored already, on their day (the unique
    constraint, ``ON CONFLICT DO NOTHING``) or in the ``DEDUPE_DAYS`` before it (looked
    up first); the ``unique`` keys of the rows really inserted. ``unique`` names the
    columns that identify a row, ``device_id`` and ``message_id`` first."""
    if not rows:
        return set()
    earlier = _stored_before(session, model, rows, unique)
    rows = [r for r in rows if tuple(r[name] for name in unique) not in earlier]
    if not rows:
        return set()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    columns = [getattr(model, name) for name in unique]
    stmt = dialect.insert(model).on_conflict_do_nothing(
        index_elements=[*columns, model.received_on])
    return {tuple(r) for r in session.execute(stmt.returning(*columns), rows)}


def _stored_before(session: Session, model: Any, rows: list[dict[str, Any]],
                   unique: list[str]) -> set[tuple[Any, ...]]:
    """The keys among ``rows`` already stored in the days before theirs (a copy that came
    back after midnight): one query, an index probe per (device, message id) in the
    day's partition (a join with the keys: PostgreSQL plans a long ``IN`` list of pairs
    slowly)."""
    messages = sorted({(r["device_id"], r["message_id"]) for r in rows
                       if r["message_id"] is not None})
    if not messages:
        return set()
    day = rows[0]["received_on"]
    columns = [getattr(model, name) for name in unique]
    stmt = select(*columns).where(model.received_on >= day - timedelta(days=DEDUPE_DAYS),
                                  model.received_on < day)
    if session.get_bind().dialect.name == "postgresql":
        keys = func.unnest(cast([d for d, _ in messages], ARRAY(String)),
                           cast([m for _, m in messages], ARRAY(String))
                           ).table_valued("device_id", "message_id").render_derived(name="k")
        stmt = stmt.join(keys, and_(model.device_id == keys.c.device_id,
                                    model.message_id == keys.c.message_id))
    else:
        stmt = stmt.where(tuple_(model.device_id, model.message_id).in_(messages))
    return {tuple(r) for r in session.execute(stmt)}


def store(session: Session, messages: Iterable[Message], *, models: ModelSource,
          now: datetime | None = None) -> list[Reply]:
    """Store one batch in the caller's transaction (flushes, never commits); return the
    replies to publish once it is committed."""
    now = now or utcnow()
    batch = _Batch(now=now, day=now.astimezone(UTC).date())
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
    """A product's thing model (parsed once per revision, ``ProductSnapshot.model``): from
    the catalog snapshot in Redis, or, when the snapshot has expired, from the product
    service with this service's own token for the device's tenant. A product the service
    does not know (removed meanwhile) has no model: its devices' reports are stored
    unchecked. An unreachable product service raises, so the batch waits in the queue."""

    def __init__(self, oms: OMSState) -> None:
        self.oms = oms

    def __call__(self, product_id: int, tenant: str) -> ThingModel | None:
        try:
            snapshot = fetch_product(catalog=self.oms.catalog, client=self.oms.client,
                                     product_id=product_id, tenant=tenant,
                                     token=service_token(self.oms, tenant))
        except NotFound:
            return None
        return snapshot.model()


# ---- the worker --------------------------------------------------------------------------


class _Worker:
    """What the ingest worker does with a batch (store, answer) and between batches
    (keep the logs); the consuming itself is ``oms_shared.BatchConsumer``'s."""

    def __init__(self, app: Flask, *, purge_every: float) -> None:
        self.app = app
        self.purge_every = purge_every
        self.oms: OMSState = app.extensions["oms"]
        self.models = CatalogModels(self.oms)
        self.next_purge = 0.0

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
        """Keep the logs (:func:`logs.maintain`): partitions ahead, retention."""
        if time.monotonic() < self.next_purge:
            return
        days = self.oms.settings.broker.log_retention_days
        until = time.monotonic() + PURGE_SLICE
        try:
            kept = logs.maintain(sessionmaker=db.sessionmaker, now=utcnow(),
                                 retention_days=days,
                                 budget=lambda: time.monotonic() < until)
        except SQLAlchemyError as exc:  # a lock not had in time, the database away: later
            log.warning("ingest: keeping the logs failed (%s: %s)", type(exc).__name__,
                        str(exc).splitlines()[0][:200] if str(exc) else "")
            kept = logs.Maintenance(created=[], dropped=[], removed=0, done=True)
        if kept.created:
            log.info("ingest: log partitions made: %s", ", ".join(kept.created))
        if kept.dropped:
            log.info("ingest: log partitions older than %d days dropped: %s", days,
                     ", ".join(kept.dropped))
        if kept.removed:
            log.info("ingest: removed %d log rows older than %d days", kept.removed, days)
        self.next_purge = time.monotonic() + (self.purge_every if kept.done else 5.0)


def run(app: Flask, stop: threading.Event, *, queue: str = QUEUE,
        purge_every: float = PURGE_EVERY) -> None:
    """The ingest worker (``device_service.ingest:run``): consume ``queue`` until
    ``stop``; reconnect with backoff whenever the broker or the database goes away."""
    url = app.extensions["oms"].settings.broker.amqp_url.get_secret_value()
    if not url:  # a platform without the device channel: nothing to read
        log.warning("no broker configured (broker.amqp_url): ingest is off")
        stop.wait()
        return
    worker = _Worker(app, purge_every=purge_every)
    BatchConsumer(url, queue, [BINDING], worker._store, stop, name="ingest", batch=BATCH,
                  linger=LINGER, prefetch=PREFETCH, idle=worker._maybe_purge).run()
