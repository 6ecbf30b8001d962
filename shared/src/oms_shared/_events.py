"""Events between services: typed announcements carried by Redis streams.

A service announces a fact (:class:`DevicesRemoved`) with :func:`publish`; each
service that cares reads it with a :class:`Consumer` in a consumer group of its
own (one group per service, whose processes share the group's work).

Guarantees:

* After the commit only: :func:`publish` adds the entries once the session's
  transaction has committed, never on rollback. Adding them is best effort: if
  Redis cannot be reached at that moment the entries are lost (the failure is
  logged by :mod:`oms_shared._database`); there is no outbox.
* At least once: an entry is acknowledged only after its handler returned. An
  entry whose handler raised, or that a dead consumer held, is delivered again
  (to any consumer of the group) once it has been pending ``reclaim_idle_ms``,
  which must exceed the slowest handler. Handlers must be idempotent.
* Order: each stream's entries are first delivered in the order they were
  published, but a retried entry comes after later ones and the consumers of a
  group work in parallel: handlers must not depend on the order of entries.
* Never stuck: an entry delivered more than ``max_tries`` times, or that cannot
  be decoded, is parked in the stream's ``:parked`` companion (:func:`parked`)
  and acknowledged, so the entries behind it keep flowing.
* A group created late starts at the stream's first entry, so what was published
  while no consumer ran is still delivered. Streams are trimmed to about
  100,000 entries: a group that falls that far behind loses the oldest.

Keys are Redis Cluster safe: a stream (``Keys.stream``) and its parked companion
(``Keys.parked``) share a hash tag, hence a slot. Requires Redis 7 or later.

Every function takes the Redis client and the key layout, like the other Redis
helpers: ``publish(session, oms.redis, oms.keys, *events)``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

import pydantic
import redis
from flask import current_app, has_app_context
from pydantic import ConfigDict, Field
from sqlalchemy.orm import Session

from oms_shared._database import on_commit
from oms_shared._keys import STREAM_NAME, Keys
from oms_shared._redis_client import RedisClient

__all__ = ["EVENT_TYPES", "MAX_DEVICE_IDS", "STREAM_MAX_LENGTH", "Consumer", "DevicesRemoved",
           "Event", "ProductDisabled", "UserRemoved", "consume", "decode", "encode", "parked",
           "publish", "publish_now"]

log = logging.getLogger("oms.events")
VERSION = "1"
STREAM_MAX_LENGTH = 100_000
MAX_DEVICE_IDS = 1000
_registry: dict[str, type[Event]] = {}
EVENT_TYPES: Mapping[str, type[Event]] = MappingProxyType(_registry)  # stream name -> class


class Event(pydantic.BaseModel):
    """An announcement. A subclass names its stream in ``stream`` and is registered."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    stream: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.__dict__.get("stream")
        if name is None:
            return
        if not STREAM_NAME.fullmatch(name):
            raise ValueError(f"invalid stream name {name!r}")
        known = _registry.get(name)
        if known is not None and (known.__module__, known.__qualname__) != (
                cls.__module__, cls.__qualname__):
            raise ValueError(f"stream {name!r} already belongs to {known.__qualname__}")
        _registry[name] = cls


class UserRemoved(Event):
    """A user of a tenant is gone: what hangs off it elsewhere (memberships, group
    ownership) goes too."""

    stream: ClassVar[str] = "users.removed"
    tenant: str = Field(min_length=1)
    user_id: str = Field(min_length=1, max_length=36)


class ProductDisabled(Event):
    """A product was disabled: its devices may no longer connect (the device service
    cuts off those connected)."""

    stream: ClassVar[str] = "products.disabled"
    tenant: str = Field(min_length=1)
    product_id: int


class DevicesRemoved(Event):
    """These devices of one product are gone (deleted, or with their product)."""

    stream: ClassVar[str] = "devices.removed"
    tenant: str = Field(min_length=1)
    product_id: int
    device_ids: list[str] = Field(min_length=1, max_length=MAX_DEVICE_IDS)

    @classmethod
    def batched(cls, *, tenant: str, product_id: int, device_ids: Sequence[str]) -> list[Self]:
        """As many events as it takes to carry ``device_ids`` in order (none for none)."""
        return [cls(tenant=tenant, product_id=product_id,
                    device_ids=list(device_ids[start:start + MAX_DEVICE_IDS]))
                for start in range(0, len(device_ids), MAX_DEVICE_IDS)]


def _text(value: Any, errors: str = "strict") -> str:
    return value.decode("utf-8", errors) if isinstance(value, bytes) else str(value)


def encode(event: Event) -> dict[str, str]:
    """The fields of the stream entry that carries ``event``."""
    if EVENT_TYPES.get(getattr(event, "stream", "")) is not type(event):
        raise TypeError(f"{type(event).__name__} is not a registered event")
    return {"type": type(event).__name__, "v": VERSION, "data": event.model_dump_json()}


def decode(name: str, fields: Mapping[Any, Any]) -> Event:
    """The typed event in an entry of stream ``name``; ValueError if there is none."""
    values = {_text(key): _text(value) for key, value in fields.items()}
    cls = EVENT_TYPES.get(name)
    if cls is None or values.get("type") != cls.__name__ or values.get("v") != VERSION:
        raise ValueError("not an event of this stream")
    return cls.model_validate_json(values.get("data", ""))


def _xadd(client: RedisClient, entries: list[tuple[str, dict[str, str]]]) -> list[str]:
    pipe = client.pipeline(transaction=False)
    for key, fields in entries:
        pipe.xadd(key, fields, maxlen=STREAM_MAX_LENGTH, approximate=True)
    return [_text(entry_id) for entry_id in pipe.execute()]


def publish(session: Session, client: RedisClient, keys: Keys, *events: Event) -> None:
    """Add ``events`` to their streams once the session's transaction commits."""
    entries = [(keys.stream(e.stream), encode(e)) for e in events]  # fail here, not later
    if entries:
        on_commit(session, lambda: _xadd(client, entries))


def publish_now(client: RedisClient, keys: Keys, *events: Event) -> list[str]:
    """Add ``events`` to their streams now (no transaction to wait for); their entry ids."""
    entries = [(keys.stream(e.stream), encode(e)) for e in events]
    return _xadd(client, entries) if entries else []


def parked(client: RedisClient, keys: Keys, name: str,
           count: int = 100) -> list[tuple[str, dict[str, str]]]:
    """The oldest parked entries of stream ``name``: (id, the original fields plus
    ``original_id``, ``error`` and ``consumer``)."""
    rows = client.xrange(keys.parked(name), count=count)
    return [(_text(entry_id), {_text(k, "replace"): _text(v, "replace") for k, v in fields.items()})
            for entry_id, fields in rows]


E = TypeVar("E", bound=Event)


class Consumer(Generic[E]):
    """Reads one event type in a consumer group: ``poll()`` once, or ``run(stop)`` in a thread.

    Build it in the process that runs it: the default consumer name holds the pid.
    """

    _REMEMBERED_ERRORS = 1000

    def __init__(self, client: RedisClient, keys: Keys, event_type: type[E], group: str,
                 handler: Callable[[E], object], *, consumer: str | None = None,
                 max_tries: int = 5, reclaim_idle_ms: int = 30_000, batch: int = 100) -> None:
        if max_tries < 1 or reclaim_idle_ms < 1 or batch < 1:
            raise ValueError("max_tries, reclaim_idle_ms and batch must be positive")
        if EVENT_TYPES.get(getattr(event_type, "stream", "")) is not event_type:
            raise TypeError(f"{event_type.__name__} is not a registered event")
        self.client = client
        self.event_type = event_type
        self.name = event_type.stream
        self.key = keys.stream(self.name)
        self.parked_key = keys.parked(self.name)
        self.group = group
        self.handler = handler
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.max_tries = max_tries
        self.reclaim_idle_ms = reclaim_idle_ms
        self.batch = batch
        self._group_ready = False
        self._errors: dict[str, str] = {}  # entry id -> type of its last failure here

    def ensure_group(self) -> None:
        """Create the group, from the stream's first entry, unless it exists."""
        try:
            self.client.xgroup_create(self.key, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        self._group_ready = True

    def poll(self, block_ms: int = 0) -> int:
        """One round: retry the entries due, then read new ones, waiting up to ``block_ms``
        for them (0: not at all). Returns how many entries were acknowledged or parked."""
        handled = 0
        try:
            if not self._group_ready:
                self.ensure_group()
            handled += self._reclaim()
            reply = self.client.xreadgroup(self.group, self.consumer, {self.key: ">"},
                                           count=self.batch,
                                           block=(block_ms or None) if not handled else None)
            if isinstance(reply, dict):
                reply = list(reply.items())
            for entry_id, fields in reply[0][1] if reply else []:
                handled += self._process(_text(entry_id), fields, 1)
        except redis.ResponseError as exc:
            if not str(exc).startswith("NOGROUP"):
                raise
            log.warning("event stream %s or its group %s vanished; recreating",
                        self.name, self.group)
            self._group_ready = False
        return handled

    def run(self, stop: threading.Event, *, block_ms: int = 1000,
            max_backoff: float = 5.0) -> None:
        """Poll until ``stop`` is set, waiting out Redis outages with a growing pause.

        ``block_ms`` bounds how long stopping takes; keep it under the client's
        socket timeout."""
        backoff = 0.1
        while not stop.is_set():
            try:
                self.poll(block_ms)
                backoff = 0.1
            except Exception as exc:  # Redis lost, or worse: log, pause, carry on
                log.warning("event consumer %s/%s failed (%s); retrying in %.1fs",
                            self.name, self.group, type(exc).__name__, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, max_backoff)

    def _reclaim(self) -> int:
        """Take over entries pending longer than ``reclaim_idle_ms`` (anyone's)."""
        reply = self.client.xautoclaim(self.key, self.group, self.consumer,
                                       self.reclaim_idle_ms, "0-0", count=self.batch)
        entries, deleted = reply[1], reply[2] if len(reply) > 2 else []
        if deleted:
            log.warning("%d pending entries of %s were trimmed before being handled",
                        len(deleted), self.name)
        if not entries:
            return 0
        pipe = self.client.pipeline(transaction=False)
        for entry_id, _fields in entries:
            pipe.xpending_range(self.key, self.group, min=entry_id, max=entry_id, count=1)
        handled = 0
        for (entry_id, fields), rows in zip(entries, pipe.execute(), strict=True):
            if rows:  # else acknowledged meanwhile by its former holder
                handled += self._process(_text(entry_id), fields, int(rows[0]["times_delivered"]))
        return handled

    def _process(self, entry_id: str, fields: Mapping[Any, Any], tries: int) -> int:
        try:
            event = decode(self.name, fields)
        except (ValueError, TypeError) as exc:
            self._park(entry_id, fields, f"undecodable ({type(exc).__name__})")
            return 1
        if tries > self.max_tries:
            last = self._errors.pop(entry_id, None)
            self._park(entry_id, fields, f"gave up after {tries - 1} tries"
                       + (f" (last error: {last})" if last else ""))
            return 1
        try:
            self.handler(cast(E, event))
        except Exception as exc:  # left pending: retried after reclaim_idle_ms
            log.warning("handling %s entry %s failed (%s, try %d of %d)", self.name, entry_id,
                        type(exc).__name__, tries, self.max_tries)
            self._errors[entry_id] = type(exc).__name__
            if len(self._errors) > self._REMEMBERED_ERRORS:
                del self._errors[next(iter(self._errors))]
            return 0
        self._errors.pop(entry_id, None)
        self.client.xack(self.key, self.group, entry_id)
        return 1

    def _park(self, entry_id: str, fields: Mapping[Any, Any], error: str) -> None:
        """Move the entry aside and acknowledge it, both or neither."""
        record = {**fields, "original_id": entry_id, "error": error, "consumer": self.consumer}
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(self.parked_key, record, maxlen=STREAM_MAX_LENGTH, approximate=True)
        pipe.xack(self.key, self.group, entry_id)
        pipe.execute()
        log.error("parked %s entry %s: %s", self.name, entry_id, error)


def consume(oms: Any, stop: threading.Event,
            handlers: Mapping[type[Event], Callable[[Any], object]], *,
            group: str | None = None) -> None:
    """What a service's worker runs: one :class:`Consumer` per event type in the
    service's consumer group (``group`` defaults to the service's name), with the retry
    settings of ``[events]``, each in a thread that runs in the caller's app context,
    until ``stop`` is set."""
    settings = oms.settings.events
    consumers = [Consumer(oms.redis, oms.keys, event_type, group or oms.service, handler,
                          max_tries=settings.max_tries,
                          reclaim_idle_ms=int(settings.reclaim_after * 1000))
                 for event_type, handler in handlers.items()]
    app = current_app._get_current_object() if has_app_context() else None

    def run(consumer: Consumer[Any]) -> None:
        """In the caller's app context (a handler opens ``db.scoped()`` sessions)."""
        if app is None:
            consumer.run(stop, block_ms=500)
            return
        with app.app_context():
            consumer.run(stop, block_ms=500)

    threads = [threading.Thread(target=run, args=(consumer,),
                                name=f"oms-consumer-{consumer.name}", daemon=True)
               for consumer in consumers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
