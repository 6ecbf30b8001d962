"""Revocation: an app's live token generation, shared through Redis.

Disabling an app or rotating its secret bumps the app's generation: the issuer
writes it to the app's generation key and announces it on the revocation
channel (``Keys.generation``, ``Keys.revocations``), in one script, so a Redis
Cluster runs both on the key's node. A token is live while its ``gen`` claim equals
the app's generation.

Verifiers ask Redis on every request, unless the process runs a
:class:`GenerationWatcher` (every gunicorn worker does): it keeps a local copy
of the generations it has seen, updated by the channel as soon as a change is
announced, which saves a Redis round trip per request. While the watcher is not
subscribed (starting, or Redis lost) its copy is dropped and verifiers ask Redis
again, so a missed announcement can never keep a revoked token alive.
Generations only grow, so the local copy keeps the largest it has seen.
"""

from __future__ import annotations

import logging
import threading

import redis

from oms_shared._errors import TokenInvalid
from oms_shared._keys import Keys
from oms_shared._redis_client import UNAVAILABLE, RedisClient
from oms_shared._tokens import Claims

__all__ = ["GenerationWatcher", "RevocationStore"]

log = logging.getLogger("oms.revocation")
#: SET the generation and announce it, as one step (PUBLISH in a MULTI cannot be
#: routed by a cluster client; in a script it is sent from the key's node).
_PUBLISH = """
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
"""


class RevocationStore:
    def __init__(self, client: RedisClient, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    @property
    def channel(self) -> str:
        return self.keys.revocations

    def _key(self, app_id: str) -> str:
        return self.keys.generation(app_id)

    def publish_generation(self, app_id: str, generation: int, *,
                           only_if_missing: bool = False) -> None:
        """Make ``generation`` the live one and announce it.

        ``only_if_missing`` (what issuing a token does) restores a generation
        that Redis lost and leaves one that is there alone.
        """
        if only_if_missing:
            self.client.set(self._key(app_id), generation, nx=True)
            return
        self.client.eval(_PUBLISH, 1, self._key(app_id), generation, self.channel,
                         f"{app_id} {generation}")

    def generation(self, app_id: str) -> int | None:
        value = self.client.get(self._key(app_id))
        return int(value) if value is not None else None

    def check(self, claims: Claims, watcher: GenerationWatcher | None = None) -> None:
        """Raise :class:`TokenInvalid` unless the token's generation is the live one."""
        live = watcher.get(claims.app_id) if watcher is not None else None
        if live is None:
            epoch = watcher.epoch if watcher is not None else None
            live = self.generation(claims.app_id)
            if live is not None and watcher is not None:
                watcher.remember(claims.app_id, live, epoch)
        if live is None or live != claims.gen:
            raise TokenInvalid("token revoked")


class GenerationWatcher(threading.Thread):
    """A process-local copy of app generations, kept fresh by the Redis channel."""

    def __init__(self, store: RevocationStore, *, retry_after: float = 1.0) -> None:
        super().__init__(name="oms-revocation-watcher", daemon=True)
        self.store = store
        self.retry_after = retry_after
        self._generations: dict[str, int] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._halt = threading.Event()
        self._epoch = 0  # grows with every (un)subscription

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    @property
    def epoch(self) -> int | None:
        """Take this before reading Redis; ``remember`` then knows whether an
        announcement could have been missed in between. None while not subscribed."""
        return self._epoch if self._subscribed.is_set() else None

    def get(self, app_id: str) -> int | None:
        if not self._subscribed.is_set():
            return None
        return self._generations.get(app_id)

    def remember(self, app_id: str, generation: int, epoch: int | None) -> None:
        """Keep a generation read from Redis, if the subscription was live throughout."""
        with self._lock:
            if (epoch is None or epoch != self._epoch or not self._subscribed.is_set()
                    or generation <= self._generations.get(app_id, 0)):
                return
            self._generations[app_id] = generation

    def _subscribe_confirmed(self) -> None:
        with self._lock:
            self._epoch += 1
            self._subscribed.set()

    def _forget_all(self) -> None:
        with self._lock:
            self._epoch += 1
            self._subscribed.clear()
            self._generations.clear()

    def _apply(self, data: str) -> None:
        app_id, _, generation = data.rpartition(" ")
        if app_id and generation.isascii() and generation.isdigit():
            with self._lock:
                if int(generation) > self._generations.get(app_id, 0):
                    self._generations[app_id] = int(generation)

    def run(self) -> None:
        while not self._halt.is_set():
            pubsub = self.store.client.pubsub()
            try:
                pubsub.subscribe(self.store.channel)
                while not self._halt.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._subscribe_confirmed()  # announcements reach us from now on
                    elif message["type"] == "message":
                        self._apply(message["data"])
            except (redis.RedisError, *UNAVAILABLE, OSError) as exc:
                log.warning("revocation channel lost (%s); asking Redis per request",
                            type(exc).__name__)
            finally:
                self._forget_all()
                pubsub.close()
            self._halt.wait(self.retry_after)

    def stop(self) -> None:
        self._halt.set()
