"""Devices and the fleet that runs them, all on one asyncio loop (one MQTT client each).

A device connects (at most ``connect_concurrency`` connects in flight across the fleet),
subscribes to its service and reply topics, says it is online, then reports properties
every ``interval`` seconds and its model's events every ``events_every`` reports, and
answers property sets and service calls. When the broker goes away it reconnects with
exponential backoff and jitter, and sends again, with the same message id, the one
message whose acknowledgement it had not received yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import resource
import secrets
import signal
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import aiomqtt

from oms_simulator.credentials import Credentials, connect_params
from oms_simulator.values import Model

# The MQTT clients' own log (paho's socket errors when a broker goes away, once per device):
# the CLI silences it; what went wrong is counted in Stats.errors instead.
MQTT_LOG = logging.getLogger("oms_simulator.mqtt")
ONLINE = json.dumps({"status": "online"}).encode()
OFFLINE = json.dumps({"status": "offline"}).encode()


@dataclass(frozen=True)
class FleetConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    interval: float = 1.0  # seconds between property reports of one device (0: no pause)
    events_every: int = 10  # fire the model's events every this many reports (0: never)
    duration: float | None = None  # stop after this many seconds
    messages: int | None = None  # property reports per device, then leave
    qos: int = 1
    aliyun: bool = False  # Aliyun-style signed password instead of the plain secret
    connect_concurrency: int = 100  # connects in flight at once, fleet-wide
    keepalive: int = 60
    timeout: float = 10.0  # connect, publish and subscribe time limit (seconds)
    linger: float = 1.0  # after the last report, wait this long at most for its replies
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    record_acked: bool = False  # keep every acknowledged message id (Device.acked_ids)


@dataclass
class Stats:
    """What the fleet did; ``connected`` counts devices that connected at least once."""

    devices: int = 0
    connected: int = 0
    online: int = 0  # connected right now
    connect_failures: int = 0
    reconnects: int = 0  # successful connects after the first, fleet-wide
    disconnects: int = 0  # connections lost without our asking
    sent: int = 0  # property and event posts (each message once, however often retried)
    acknowledged: int = 0  # posts the broker acknowledged (PUBACK at QoS 1)
    retried: int = 0  # posts sent again after a reconnect
    replies: int = 0  # post_reply messages received
    rejected: int = 0  # of which with a code other than 200
    commands: int = 0  # property sets and service calls answered
    started_at: float = 0.0  # loop time
    last_first_connect_at: float = 0.0
    elapsed: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, exc: BaseException) -> None:
        key = f"{type(exc).__name__}: {exc}"[:120]
        self.errors[key] = self.errors.get(key, 0) + 1

    @property
    def connect_seconds(self) -> float:
        return max(self.last_first_connect_at - self.started_at, 0.0) if self.connected else 0.0

    @property
    def connect_rate(self) -> float:
        seconds = self.connect_seconds
        return round(self.connected / seconds, 1) if seconds > 0 else 0.0

    def report(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("started_at", "last_first_connect_at", "online"):
            data.pop(key)
        data["connect_seconds"] = round(self.connect_seconds, 3)
        data["connect_rate"] = self.connect_rate
        data["elapsed"] = round(self.elapsed, 3)
        data["errors"] = dict(sorted(self.errors.items(), key=lambda kv: -kv[1])[:10])
        return data

    def summary(self) -> str:
        return (f"oms-sim: {self.connected}/{self.devices} devices connected in "
                f"{self.connect_seconds:.2f}s ({self.connect_rate}/s), sent {self.sent}, "
                f"acknowledged {self.acknowledged}, replies {self.replies} "
                f"(rejected {self.rejected}), commands {self.commands}, "
                f"reconnects {self.reconnects}, connect failures {self.connect_failures}, "
                f"{self.elapsed:.1f}s")


class Device:
    """One simulated device: its own MQTT client, reconnected until the fleet stops."""

    def __init__(self, credentials: Credentials, *, model: Model, config: FleetConfig,
                 stats: Stats, stop: asyncio.Event, connect_slots: asyncio.Semaphore,
                 id_prefix: str = "") -> None:
        self.credentials = credentials
        self.model = model
        self.config = config
        self.stats = stats
        self._stop = stop
        self._slots = connect_slots
        self._id_prefix = id_prefix
        self.prefix = credentials.topic_prefix
        self.overrides: dict[str, Any] = {}  # property values set by the platform
        self.reports = 0  # property reports sent
        self.posts_acked = 0
        self.replies = 0
        self.acked_ids: list[str] = []
        self.ever_connected = False
        self._seq = 0
        self._pending: tuple[str, bytes, str] | None = None  # a post not acknowledged yet

    # ---- the connection loop ------------------------------------------------------------

    def _done(self) -> bool:
        limit = self.config.messages
        return self._stop.is_set() or (limit is not None and self.reports >= limit
                                       and self._pending is None)

    async def run(self) -> None:
        delay = self.config.backoff_initial
        while not self._done():
            try:
                client = await self._connect()
            except aiomqtt.MqttError as exc:
                self.stats.connect_failures += 1
                self.stats.error(exc)
            else:
                delay = self.config.backoff_initial
                self.stats.online += 1
                try:
                    await self._session(client)
                except aiomqtt.MqttError as exc:
                    self.stats.disconnects += 1
                    self.stats.error(exc)
                    await self._close(client)
                else:
                    await self._leave(client)
                    return
                finally:
                    self.stats.online -= 1
            if not await self._pause(delay * random.uniform(0.5, 1.5)):
                return
            delay = min(delay * 2, self.config.backoff_max)

    async def _connect(self) -> aiomqtt.Client:
        cfg = self.config
        params = connect_params(self.credentials, aliyun=cfg.aliyun)
        client = aiomqtt.Client(
            cfg.host, cfg.port, identifier=params.client_id, username=params.username,
            password=params.password, keepalive=cfg.keepalive, timeout=cfg.timeout,
            clean_session=True, logger=MQTT_LOG,
            will=aiomqtt.Will(f"{self.prefix}/thing/status", OFFLINE, qos=1))
        async with self._slots:
            try:
                await client.__aenter__()
            except BaseException:
                _drop_socket(client)
                raise
            try:
                await client.subscribe([(f"{self.prefix}/thing/service/#", cfg.qos),
                                        (f"{self.prefix}/thing/event/+/post_reply", cfg.qos)])
                await client.publish(f"{self.prefix}/thing/status", ONLINE, qos=cfg.qos)
            except BaseException:
                await self._close(client)
                raise
        if self.ever_connected:
            self.stats.reconnects += 1
        else:
            self.ever_connected = True
            self.stats.connected += 1
            self.stats.last_first_connect_at = asyncio.get_running_loop().time()
        return client

    async def _session(self, client: aiomqtt.Client) -> None:
        """Report and listen until done (returns) or the connection fails (raises)."""
        listener = asyncio.create_task(self._listen(client))
        reporter = asyncio.create_task(self._report(client))
        try:
            done, _ = await asyncio.wait({listener, reporter},
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (listener, reporter):
                task.cancel()
            results = await asyncio.gather(listener, reporter, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(
                    result, asyncio.CancelledError):
                raise result
        if listener in done:  # the message stream ended without an error: connection gone
            raise aiomqtt.MqttError("message stream ended")

    async def _leave(self, client: aiomqtt.Client) -> None:
        """Say offline (a clean disconnect sends no will) and disconnect."""
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            await client.publish(f"{self.prefix}/thing/status", OFFLINE, qos=self.config.qos,
                                 timeout=2)
        await self._close(client)

    async def _close(self, client: aiomqtt.Client) -> None:
        try:
            await asyncio.wait_for(client.__aexit__(None, None, None), 3)
        except (TimeoutError, aiomqtt.MqttError):
            _drop_socket(client)
        except asyncio.CancelledError:
            _drop_socket(client)
            raise

    async def _pause(self, seconds: float) -> bool:
        """Sleep unless the fleet stops meanwhile; False when it did."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return not self._stop.is_set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return not self._stop.is_set()

    # ---- sending ------------------------------------------------------------------------

    def _message(self, params: dict[str, Any]) -> tuple[str, bytes]:
        self._seq += 1
        message_id = f"{self._id_prefix}{self._seq}"
        body = {"id": message_id, "version": "1.0", "params": params,
                "time": int(time.time() * 1000)}
        return message_id, json.dumps(body, separators=(",", ":")).encode()

    async def _post(self, client: aiomqtt.Client, topic: str, payload: bytes,
                    message_id: str) -> None:
        self._pending = (topic, payload, message_id)
        self.stats.sent += 1
        await self._deliver(client)

    async def _deliver(self, client: aiomqtt.Client) -> None:
        assert self._pending is not None
        topic, payload, message_id = self._pending
        await client.publish(topic, payload, qos=self.config.qos, timeout=self.config.timeout)
        self._pending = None
        self.stats.acknowledged += 1
        self.posts_acked += 1
        if self.config.record_acked:
            self.acked_ids.append(message_id)

    async def _report(self, client: aiomqtt.Client) -> None:
        cfg = self.config
        if self._pending is not None:  # sent before the connection broke, never acknowledged
            self.stats.retried += 1
            await self._deliver(client)
        loop = asyncio.get_running_loop()
        # Spread the first reports over one interval so a fleet does not report in bursts.
        if not self.reports and not await self._pause(random.uniform(0, cfg.interval)):
            return
        next_at = loop.time()
        while cfg.messages is None or self.reports < cfg.messages:
            if self._stop.is_set():
                return
            message_id, payload = self._message(self.model.property_params(self.overrides))
            self.reports += 1  # counted once made: a post cut off is resent, not made again
            await self._post(client, f"{self.prefix}/thing/event/property/post", payload,
                             message_id)
            if cfg.events_every and self.reports % cfg.events_every == 0:
                for event in self.model.events:
                    message_id, payload = self._message(self.model.event_params(event))
                    await self._post(client, f"{self.prefix}/thing/event/"
                                     f"{event['identifier']}/post", payload, message_id)
            next_at = max(next_at + cfg.interval, loop.time())
            if not await self._pause(next_at - loop.time()):
                return
        # All sent: give the platform a moment to answer them.
        deadline = loop.time() + cfg.linger
        while self.replies < self.posts_acked and loop.time() < deadline:
            if not await self._pause(0.05):
                return

    # ---- receiving ----------------------------------------------------------------------

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = message.topic.value
            if not topic.startswith(self.prefix):
                continue
            await self._handle(client, topic[len(self.prefix):], message.payload)

    async def _handle(self, client: aiomqtt.Client, suffix: str, raw: Any) -> None:
        body = _json(raw)
        if suffix.endswith("_reply"):
            if suffix.startswith("/thing/event/"):  # the platform's answer to a post
                self.replies += 1
                self.stats.replies += 1
                if body.get("code") != 200:
                    self.stats.rejected += 1
            return  # else our own set_reply/service reply, echoed by service/#
        if not suffix.startswith("/thing/service/"):
            return
        params = body.get("params")
        code, data = 200, {}
        if suffix == "/thing/service/property/set":
            if isinstance(params, dict) and params:
                self.overrides.update(params)
            else:
                code = 400
        else:
            service = self.model.service(suffix.removeprefix("/thing/service/"))
            if service is not None and service.get("outputData"):
                data = self.model.event_params({"outputData": service["outputData"]})
        reply = json.dumps({"id": body.get("id"), "code": code, "data": data}).encode()
        await client.publish(f"{self.prefix}{suffix}_reply", reply, qos=self.config.qos,
                             timeout=self.config.timeout)
        self.stats.commands += 1


def _json(raw: Any) -> dict[str, Any]:
    try:
        body = json.loads(raw) if isinstance(raw, bytes | bytearray | str) else None
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


def _drop_socket(client: aiomqtt.Client) -> None:
    """Close a client's socket without the protocol (its connect or close failed)."""
    paho = client._client  # aiomqtt offers no public way to abort a half-open client
    sock = paho.socket()
    if sock is not None:
        with contextlib.suppress(Exception):
            loop = asyncio.get_running_loop()
            loop.remove_reader(sock)
            loop.remove_writer(sock)
        with contextlib.suppress(Exception):
            paho._sock_close()


class Fleet:
    """Many devices on one loop: ``await Fleet(devices, model, config).run()``."""

    def __init__(self, devices: Sequence[Credentials], model: Model | None = None,
                 config: FleetConfig | None = None) -> None:
        self.credentials = list(devices)
        self.model = model or Model()
        self.config = config or FleetConfig()
        self.stats = Stats(devices=len(self.credentials))
        self.devices: list[Device] = []
        self._stop = asyncio.Event()
        self._id_prefix = secrets.token_hex(4) + "-"  # message ids unique across runs

    def stop(self) -> None:
        self._stop.set()

    async def wait_connected(self, count: int | None = None, timeout: float = 30.0) -> None:
        """Until ``count`` devices (all) are connected right now; TimeoutError after."""
        want = self.stats.devices if count is None else count
        async with asyncio.timeout(timeout):
            while self.stats.online < want:
                await asyncio.sleep(0.02)

    async def run(self, *, handle_signals: bool = False) -> Stats:
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(self.config.connect_concurrency)
        self.stats.started_at = loop.time()
        self.devices = [Device(c, model=self.model, config=self.config, stats=self.stats,
                               stop=self._stop, connect_slots=slots, id_prefix=self._id_prefix)
                        for c in self.credentials]
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.stop)
        tasks = [asyncio.create_task(d.run()) for d in self.devices]
        stopper = asyncio.create_task(self._stop.wait())
        try:
            await self._until_stopped(tasks, stopper)
            self._stop.set()
            late: set[asyncio.Task[None]] = set()
            if tasks:
                _, late = await asyncio.wait(tasks, timeout=self.config.timeout + 5)
            for task in late:
                task.cancel()
            if late:
                await asyncio.gather(*late, return_exceptions=True)
            for task in tasks:
                if not task.cancelled() and task.exception() is not None:
                    self.stats.error(task.exception())  # type: ignore[arg-type]
        finally:
            leftover = [t for t in tasks if not t.done()]  # run() itself was cancelled
            for task in leftover:
                task.cancel()
            if leftover:
                await asyncio.gather(*leftover, return_exceptions=True)
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper
            if handle_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
            self.stats.elapsed = loop.time() - self.stats.started_at
        return self.stats

    async def _until_stopped(self, tasks: list[asyncio.Task[None]],
                             stopper: asyncio.Task[bool]) -> None:
        """Until stop(), the duration, or every device done (``--messages`` sent)."""
        loop = asyncio.get_running_loop()
        duration = self.config.duration
        while tasks and not self._stop.is_set() and not all(t.done() for t in tasks):
            remaining = None
            if duration is not None:
                remaining = self.stats.started_at + duration - loop.time()
                if remaining <= 0:
                    return
            pending = [t for t in tasks if not t.done()]
            await asyncio.wait([*pending, stopper], timeout=remaining,
                               return_when=asyncio.FIRST_COMPLETED)


def raise_open_file_limit() -> int:
    """One socket per device: lift the soft limit on open files to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
    return soft
