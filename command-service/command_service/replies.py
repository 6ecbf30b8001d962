"""The replies worker (``command_service.replies:run``): devices' answers to commands.

A device answers a property set on ``/sys/{pk}/{dn}/thing/service/property/set_reply``
and a service call on ``/sys/{pk}/{dn}/thing/service/{identifier}_reply`` with
``{"id", "code", "data"}``. The durable queue ``oms.command-replies`` is bound to
``.sys.*.*.thing.service.#`` (which also matches the commands themselves; they are
acknowledged and dropped). Any number of workers may consume it.

A batch is written in one transaction (the reply onto its command: ``succeeded`` for
code 200, else ``failed``; a late reply onto a ``timed_out`` command too), committed,
and then each reply to a synchronous command is published on the channel of the
process that waits for it (``reply_to``), and only then acknowledged. A reply that
matches no open command of that device (a repeat, a stranger's id) changes nothing,
so a redelivery is harmless.

Between batches the worker marks commands ``timed_out`` whose deadline passed with no
answer and no one waiting (asynchronous calls, a group job's commands, a caller whose
process died).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from command_service import commands
from command_service.db import db
from oms_shared import BatchConsumer, BrokerMessage, OMSState, utcnow

__all__ = ["QUEUE", "handle", "run"]

log = logging.getLogger("oms.command.replies")

QUEUE = "oms.command-replies"
BINDING = ".sys.*.*.thing.service.#"
SWEEP_EVERY = 2.0  # seconds between looks for overdue commands
GRACE = timedelta(seconds=2)  # a waiting caller marks its own command first
MAX_BODY = 256 * 1024


def _parse(message: BrokerMessage) -> tuple[str, str, dict[str, Any]] | None:
    """(product key, device name, reply) of a reply; None for anything else."""
    parts = message.routing_key.split(".", 6)  # '', sys, pk, dn, thing, service, rest
    if (len(parts) != 7 or parts[1] != "sys" or parts[4:6] != ["thing", "service"]
            or not parts[6].endswith("_reply") or len(message.body) > MAX_BODY):
        return None
    try:
        body = json.loads(message.body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    message_id, code = body.get("id"), body.get("code")
    if not isinstance(message_id, str) or isinstance(code, bool) or not isinstance(code, int):
        return None
    return parts[2], parts[3], {"message_id": message_id, "code": code,
                                "data": body.get("data")}


def handle(oms: OMSState, messages: list[BrokerMessage]) -> int:
    """Record a batch of replies and tell the waiting processes; the number recorded."""
    now = utcnow()
    signals: list[tuple[str, str]] = []
    with db.scoped() as session:
        for message in messages:
            parsed = _parse(message)
            if parsed is None:
                continue
            product_key, device_name, reply = parsed
            command = commands.record_reply(session=session, product_key=product_key,
                                            device_name=device_name, now=now, **reply)
            if command is not None and command.reply_to:
                signals.append((command.reply_to, json.dumps(reply, ensure_ascii=False)))
    if signals:
        pipe = oms.redis.pipeline(transaction=False)
        for channel, payload in signals:
            pipe.publish(channel, payload)
        try:
            pipe.execute()
        except Exception as exc:  # recorded already: the waiters read the rows
            log.warning("command replies: telling the waiters failed (%s)", type(exc).__name__)
    return len(signals)


class _Sweeper:
    def __init__(self) -> None:
        self.next = 0.0

    def __call__(self) -> None:
        if time.monotonic() < self.next:
            return
        self.next = time.monotonic() + SWEEP_EVERY
        try:
            with db.scoped() as session:
                due = commands.overdue(session=session, now=utcnow(), grace=GRACE)
                commands.time_out(session=session, message_ids=due)
        except SQLAlchemyError as exc:
            log.warning("command replies: sweeping overdue commands failed (%s)",
                        type(exc).__name__)


def run(app: Flask, stop: threading.Event, *, queue: str = QUEUE) -> None:
    """Consume devices' replies until ``stop``; reconnect whenever the broker or the
    database goes away."""
    oms: OMSState = app.extensions["oms"]
    url = oms.settings.broker.amqp_url.get_secret_value()
    if not url:
        log.warning("no broker configured (broker.amqp_url): command replies are off")
        stop.wait()
        return

    def store(messages: list[BrokerMessage]) -> list[BrokerMessage]:
        handle(oms, messages)
        return []

    BatchConsumer(url, queue, [BINDING], store, stop, name="command replies",
                  idle=_Sweeper()).run()
