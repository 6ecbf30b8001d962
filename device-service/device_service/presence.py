"""Who is online: the broker's connection events, applied to the devices.

RabbitMQ's event exchange (``amq.rabbitmq.event``) announces every connection:
``connection.created`` carries the connection's ``name`` and ``user``
(``{device_name}&{product_key}``), ``connection.closed`` only the ``name``, so the
worker keeps the map in Redis (``Keys.channel_connections`` and
``channel_device_connection``; the latter is also what ``channel.kick`` drops). The
events wait in a durable queue, ``oms.presence``, acknowledged only after the device row
is committed, so none is lost while the worker is down.

After a restart, once the broker has had time to list its connections, a device marked
online whose connection the broker no longer lists (the node was restarted too, or the
event was lost, or it came when the map was gone) is set offline, and a device still
connected whose map entries are gone (the platform's Redis was emptied by the restart)
gets them back (:func:`reconcile`).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

import pika
import requests
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from device_service import channel
from device_service.db import db
from device_service.models import Device
from oms_shared import OMSState, ProductDisabled, consume, utcnow

__all__ = ["QUEUE", "apply", "reconcile", "run"]

log = logging.getLogger("oms.device.presence")
QUEUE = "oms.presence"
RECONCILE_AFTER = 10.0  # seconds: the management API lists a new connection late


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")


def apply(session: Session, oms: OMSState, event: str, headers: dict[str, Any]) -> None:
    """One connection event, in the caller's transaction."""
    name = _text(headers.get("name"))
    now = utcnow()
    if event == "connection.created":
        parsed = channel.parse_username(_text(headers.get("user")))
        if parsed is None or not name:
            return  # the platform's own connection
        device = session.scalar(select(Device).where(Device.product_key == parsed[0],
                                                     Device.device_name == parsed[1]))
        if device is None or device.status not in channel.CONNECTABLE:
            return
        device.status = "online"
        device.activated_at = device.activated_at or now
        device.last_online_at = now
        session.flush()
        pipe = oms.redis.pipeline(transaction=False)
        pipe.hset(oms.keys.channel_connections(), name, device.id)
        pipe.hset(oms.keys.channel_device_connection(), device.id, name)
        pipe.execute()
    elif event == "connection.closed" and name:
        device_id = oms.redis.hget(oms.keys.channel_connections(), name)
        if device_id is None:
            return
        oms.redis.hdel(oms.keys.channel_connections(), name)
        if oms.redis.hget(oms.keys.channel_device_connection(), device_id) != name:
            return  # it has connected again since (a newer connection)
        oms.redis.hdel(oms.keys.channel_device_connection(), device_id)
        session.execute(update(Device).where(Device.id == device_id, Device.status == "online")
                        .values(status="offline", last_online_at=now, updated_at=now))


def _management(oms: OMSState) -> tuple[str, tuple[str, str]] | None:
    url = oms.settings.broker.management_url.get_secret_value()
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}", (parts.username or "",
                                                              parts.password or "")


def reconcile(session: Session, oms: OMSState) -> int:
    """Bring the devices marked online in line with the connections the broker lists;
    returns how many went offline. (Run once the broker has had ``RECONCILE_AFTER``
    seconds to list them.)

    - One with no listed connection goes offline (the node was restarted, or its
      ``connection.closed`` found no map entry, or was lost).
    - One that is still connected gets its map entries back when they are missing: a
      platform restarted with its Redis emptied (``oms-stack``'s is not persistent)
      would otherwise not see it leave, nor could it cut it off.
    """
    management = _management(oms)
    if management is None:
        return 0
    base, auth = management
    listed = requests.get(f"{base}/api/connections?columns=name,user", auth=auth, timeout=10)
    listed.raise_for_status()
    live: dict[str, set[str]] = {}  # user ({dn}&{pk}) -> its connections' names
    for item in listed.json():
        if item.get("user") and item.get("name"):
            live.setdefault(str(item["user"]), set()).add(str(item["name"]))
    cutoff = utcnow().timestamp() - RECONCILE_AFTER
    known = oms.keys.channel_device_connection()
    changed = 0
    for device in session.scalars(select(Device).where(Device.status == "online")):
        names = live.get(f"{device.device_name}&{device.product_key}")
        mapped = oms.redis.hget(known, device.id)
        if names:
            if mapped not in names:  # still connected, but the map forgot it (or lags)
                name = max(names)
                pipe = oms.redis.pipeline(transaction=False)
                if mapped is not None:
                    pipe.hdel(oms.keys.channel_connections(), mapped)
                pipe.hset(oms.keys.channel_connections(), name, device.id)
                pipe.hset(known, device.id, name)
                pipe.execute()
            continue
        if _seen(device) < cutoff:
            device.status = "offline"
            pipe = oms.redis.pipeline(transaction=False)
            if mapped is not None:
                pipe.hdel(oms.keys.channel_connections(), mapped)
            pipe.hdel(known, device.id)
            pipe.execute()
            changed += 1
    session.flush()
    return changed


def _seen(device: Device) -> float:
    """When the device last connected, as a timestamp (SQLite's datetimes are naive UTC:
    ``timestamp()`` would read them as local time)."""
    seen = device.last_online_at
    if seen is None:
        return 0.0
    return (seen if seen.tzinfo else seen.replace(tzinfo=UTC)).timestamp()


def _product_disabled(app: Flask, oms: OMSState, event: ProductDisabled) -> None:
    """Cut off the product's connected devices (the broker refuses new connects)."""
    with app.app_context(), db.scoped() as session:
        ids = list(session.scalars(select(Device.id).where(
            Device.tenant == event.tenant, Device.product_id == event.product_id,
            Device.status == "online")))
        channel.forget(oms, session.scalars(select(Device).where(Device.id.in_(ids))))
    channel.kick(oms, ids)
    log.info("product %s disabled: %d connected devices cut off", event.product_id, len(ids))


def _consume(app: Flask, oms: OMSState, stop: threading.Event) -> None:
    params = pika.URLParameters(oms.settings.broker.amqp_url.get_secret_value())
    params.heartbeat = 30
    connection = pika.BlockingConnection(params)
    try:
        ch = connection.channel()
        ch.queue_declare(QUEUE, durable=True)
        for key in ("connection.created", "connection.closed"):
            ch.queue_bind(QUEUE, "amq.rabbitmq.event", key)
        ch.basic_qos(prefetch_count=200)
        reconcile_at = time.monotonic() + RECONCILE_AFTER
        for method, properties, _body in ch.consume(QUEUE, inactivity_timeout=0.5):
            if stop.is_set():
                break
            if reconcile_at and time.monotonic() > reconcile_at:
                with db.scoped() as session:
                    if (gone := reconcile(session, oms)):
                        log.info("%d devices no longer connected set offline", gone)
                reconcile_at = 0.0
            if method is None:
                continue
            with db.scoped() as session:
                apply(session, oms, method.routing_key, dict(properties.headers or {}))
            ch.basic_ack(method.delivery_tag)
        ch.cancel()
    finally:
        if connection.is_open:
            connection.close()


def run(app: Flask, stop: threading.Event) -> None:
    """The presence worker: connection events, and cutting off disabled products."""
    oms: OMSState = app.extensions["oms"]
    if not oms.settings.broker.amqp_url.get_secret_value():
        log.warning("no broker configured (broker.amqp_url): presence is off")
        stop.wait()
        return
    threading.Thread(target=consume, args=(oms, stop, {
        ProductDisabled: lambda event: _product_disabled(app, oms, event)}),
        name="oms-product-disabled", daemon=True).start()
    backoff = 0.5
    while not stop.is_set():
        try:
            _consume(app, oms, stop)
            backoff = 0.5
        except (pika.exceptions.AMQPError, OSError) as exc:
            log.warning("broker connection lost (%s); retrying in %.1fs", type(exc).__name__,
                        backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)  # the broker is near: come back soon
