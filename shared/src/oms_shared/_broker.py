"""The platform's side of the device channel: AMQP to the broker, written once.

Devices speak MQTT; RabbitMQ's MQTT plugin maps their topics onto the ``amq.topic``
exchange (``/sys/pk/dn/thing/x`` is the routing key ``.sys.pk.dn.thing.x``). The
platform reads and writes that traffic over AMQP:

- :class:`BatchConsumer` is a worker's loop: a durable queue bound to some routing
  keys, deliveries handed to ``handle`` in batches (up to ``batch`` messages or what
  came within ``linger`` seconds), the messages ``handle`` returns published in one
  broker transaction, and only then the batch acknowledged. A worker killed anywhere
  before the acknowledgement gets the batch delivered again, so ``handle`` must be
  idempotent. It reconnects with backoff whenever the broker or the database is away
  and never stops on its own.
- :class:`Publisher` is a request's way out: one connection per process, shared
  under a lock, in confirm mode, so a publish returns once the broker holds the
  message (it raises :class:`~oms_shared.Unavailable` when it cannot).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions
from sqlalchemy.exc import InterfaceError, OperationalError

from oms_shared._errors import Unavailable

__all__ = ["EXCHANGE", "BatchConsumer", "BrokerMessage", "Publisher", "topic_key"]

log = logging.getLogger("oms.broker")

EXCHANGE = "amq.topic"
TRANSIENT = (pika.exceptions.AMQPError, OSError, OperationalError, InterfaceError)


@dataclass(frozen=True, slots=True)
class BrokerMessage:
    """A message on ``amq.topic``: its routing key and body (both ways)."""

    routing_key: str
    body: bytes


def topic_key(topic: str) -> str:
    """The routing key of an MQTT topic: ``/sys/pk/dn/thing/x`` -> ``.sys.pk.dn.thing.x``."""
    return topic.replace("/", ".")


def _parameters(url: str) -> pika.URLParameters:
    params = pika.URLParameters(url)
    params.heartbeat = 30
    params.blocked_connection_timeout = 60
    return params


class BatchConsumer:
    """``BatchConsumer(url, queue, bindings, handle, stop).run()`` consumes until ``stop``.

    ``handle(messages)`` stores a batch and returns what to publish in answer; it raises
    to leave the whole batch unacknowledged (it is delivered again after a reconnect).
    ``idle()`` runs between batches (housekeeping that must not hold deliveries up).
    """

    def __init__(self, url: str, queue: str, bindings: Sequence[str],
                 handle: Callable[[list[BrokerMessage]], list[BrokerMessage]],
                 stop: threading.Event, *, name: str, batch: int = 200, linger: float = 0.05,
                 prefetch: int = 500, idle: Callable[[], None] = lambda: None) -> None:
        self.url = url
        self.queue = queue
        self.bindings = tuple(bindings)
        self.handle = handle
        self.stop = stop
        self.name = name
        self.batch = batch
        self.linger = linger
        self.prefetch = prefetch
        self.idle = idle

    def run(self) -> None:
        backoff = 0.5
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self._connected()
            except Exception as exc:  # the worker never stops on its own
                if isinstance(exc, TRANSIENT):
                    log.warning("%s: %s (%s); reconnecting in %.1f s", self.name,
                                type(exc).__name__, str(exc)[:200], backoff)
                else:
                    log.exception("%s failed; reconnecting in %.1f s", self.name, backoff)
                if time.monotonic() - started > 30:
                    backoff = 0.5  # it had been running well: start the backoff anew
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)  # the broker is near: come back soon

    def _connected(self) -> None:
        connection = pika.BlockingConnection(_parameters(self.url))
        try:
            channel = connection.channel()
            channel.queue_declare(self.queue, durable=True)
            for key in self.bindings:
                channel.queue_bind(self.queue, EXCHANGE, routing_key=key)
            channel.basic_qos(prefetch_count=self.prefetch)
            out = connection.channel()
            out.tx_select()  # one commit per batch: the broker has every answer
            log.info("%s: consuming %s", self.name, self.queue)
            self._consume(channel, out)
        finally:
            if connection.is_open:
                try:
                    connection.close()  # unacknowledged deliveries go back to the queue
                except Exception:
                    log.debug("closing the broker connection failed", exc_info=True)

    def _consume(self, channel: Any, out: Any) -> None:
        pending: list[tuple[int, BrokerMessage]] = []
        deadline = 0.0
        for method, _props, body in channel.consume(self.queue, inactivity_timeout=self.linger):
            if method is not None:
                if not pending:
                    deadline = time.monotonic() + self.linger
                pending.append((method.delivery_tag,
                                BrokerMessage(routing_key=method.routing_key, body=body)))
            if pending and (method is None or len(pending) >= self.batch
                            or time.monotonic() >= deadline):
                self._flush(channel, out, pending)
                pending = []
            if method is None or not pending:
                self.idle()
            if self.stop.is_set():
                if pending:
                    self._flush(channel, out, pending)
                channel.cancel()
                return

    def _flush(self, channel: Any, out: Any, pending: list[tuple[int, BrokerMessage]]) -> None:
        answers = self.handle([m for _, m in pending])
        for answer in answers:
            out.basic_publish(EXCHANGE, answer.routing_key, answer.body,
                              pika.BasicProperties(content_type="application/json"))
        if answers:
            out.tx_commit()
        channel.basic_ack(delivery_tag=pending[-1][0], multiple=True)


class Publisher:
    """Publishes to ``amq.topic`` from request handlers: one confirmed connection per
    process, opened on first use, shared under a lock and opened again after a failure
    (one retry per publish). Messages are persistent; an MQTT subscriber gets them at the
    QoS of its subscription. (No ``x-mqtt-publish-qos`` header: pika encodes it as a
    signed int, which RabbitMQ 3.10's MQTT plugin does not expect and drops the device's
    connection over.)
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._connection: Any = None
        self._channel: Any = None

    def publish(self, message: BrokerMessage) -> None:
        if not self.url:
            raise Unavailable("the device channel is not configured (broker.amqp_url)")
        with self._lock:
            for attempt in (1, 2):
                try:
                    channel = self._open()
                    channel.basic_publish(
                        EXCHANGE, message.routing_key, message.body,
                        pika.BasicProperties(content_type="application/json", delivery_mode=2))
                    return
                except TRANSIENT as exc:
                    self._drop()
                    if attempt == 2:
                        log.warning("publishing to the broker failed: %s", type(exc).__name__)
                        raise Unavailable("the device channel is unavailable") from exc

    def _open(self) -> Any:
        if self._channel is None or not self._channel.is_open:
            self._drop()
            self._connection = pika.BlockingConnection(_parameters(self.url))
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
        return self._channel

    def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:
                log.debug("closing the broker connection failed", exc_info=True)

    def close(self) -> None:
        with self._lock:
            self._drop()
