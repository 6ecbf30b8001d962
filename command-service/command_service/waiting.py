"""Waiting for a device's reply in the process that sent the command.

Replies are consumed by the replies worker (:mod:`command_service.replies`), in
whatever process the broker hands them to. A synchronous command's row names the
process that waits (``reply_to``, this process's Redis pub/sub channel); the worker
records the reply and publishes it there. Each process holds one subscription and
one dict of waiting commands: a wait is an event, not a thread, and under gevent (the
service's gunicorn worker class) not even a thread while it waits.

A reply published while the subscription is down is not lost: the waiter then times
out, and the caller reads the command's row, where the worker wrote it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

from oms_shared import Keys

log = logging.getLogger("oms.command.waiting")


class _Slot:
    __slots__ = ("event", "reply")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: dict[str, Any] | None = None


class Waiter:
    """``slot = waiter.expect(mid)`` before publishing; ``waiter.wait(mid, slot, s)``."""

    def __init__(self, client: Any, keys: Keys) -> None:
        self.client = client
        self.channel = keys.command_replies(uuid.uuid4().hex)
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 5.0) -> None:
        """Subscribe (once per process) and return when the subscription is live."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, name="command-replies",
                                                daemon=True)
                self._thread.start()
        self._ready.wait(timeout)

    def expect(self, message_id: str) -> _Slot:
        self.start()
        slot = _Slot()
        with self._lock:
            self._slots[message_id] = slot
        return slot

    def wait(self, message_id: str, slot: _Slot, timeout: float) -> dict[str, Any] | None:
        try:
            slot.event.wait(timeout)
            return slot.reply
        finally:
            with self._lock:
                self._slots.pop(message_id, None)

    def waiting(self) -> int:
        return len(self._slots)

    def _deliver(self, raw: Any) -> None:
        try:
            reply = json.loads(raw)
            message_id = reply["message_id"]
        except (ValueError, TypeError, KeyError):
            return
        with self._lock:
            slot = self._slots.get(message_id)
        if slot is not None:
            slot.reply = reply
            slot.event.set()

    def _listen(self) -> None:
        backoff = 0.2
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                pubsub.get_message(timeout=1.0)  # the subscription's confirmation
                self._ready.set()
                backoff = 0.2
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._deliver(message["data"])
            except Exception as exc:  # Redis away: the waiters fall back on the rows
                self._ready.clear()
                log.warning("command replies: %s; subscribing again in %.1f s",
                            type(exc).__name__, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                try:
                    pubsub.close()
                except Exception:
                    log.debug("closing the subscription failed", exc_info=True)
