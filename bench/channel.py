"""The device channel under load: telemetry stored per second against the broker's own
pass-through, many devices connected at once, and log pages deep in a long history.

    python bench/channel.py [--senders 50] [--messages 200] [--devices 2000]
                            [--log-rows 1000000] [--backends sqlite[,postgresql]]

One run per backend, each on a fresh platform with its private RabbitMQ node
(``Stack(channel=True)``; device service: 2 gunicorn workers x 4 threads, one ingest
worker):

1. Throughput. ``--senders`` devices of a produced batch each publish ``--messages``
   QoS 1 property reports, one in flight per device (the next one as soon as the PUBACK
   is in, as ``oms-sim --interval 0`` does), from one asyncio process; each also
   subscribes to its ``post_reply`` topic, as the simulator does. *Stored/s* is the
   message count over the time from the first publish until the device database holds
   every row (counted in the database directly, ``SELECT count(*)``, every 20 ms after
   the last PUBACK; the log API's ``total``s are checked to agree afterwards).
   The floor, measured on the same node in the same run with the same publishers, count
   and QoS: the same devices publish to their own ``/sys/{pk}/{dn}/bench`` topic, and one
   AMQP consumer (pika, in its own process, with the platform's AMQP user) reads them
   from a durable queue bound to ``amq.topic``, with the ingest worker's prefetch (500)
   and acknowledgement batch (200). That is the path the ingest worker reads, minus the
   storing, so *stored/s / pass-through/s* is the platform's own cost (aim: >= 0.8).
   For reference, Mosquitto on the same machine (a private ``mosquitto`` on a free port,
   ``allow_anonymous true``): the same publishers, one aiomqtt subscriber to ``bench/#``
   at QoS 1 in its own process.
   Latency: the other senders publish at half the measured stored/s while one probe
   device publishes a report, then reads the newest row of its property log through the
   gateway until that report is there (publish to visible), a few hundred times: p50, p99.
2. Connections. ``--devices`` simulated devices (the simulator's ``Fleet``, one process,
   100 connects in flight, a report every 30 s) connect at once: the connect rate from
   the simulator's report, and the resident memory (VmRSS of the process and its
   children) of the broker node and of the ingest worker before and with all connected.
3. Log depth. ``--log-rows`` property log rows for one device inserted straight into the
   device database (SQLAlchemy Core executemany, 50,000 rows a statement), then through
   the gateway: the first page and the page 10,000 rows deep (reached by walking
   ``next_cursor`` with page_size 500), each the median of 7 reads, and the first page of
   a device with only ``--messages`` rows for reference.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pika
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.orm import sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import Caller  # noqa: E402
from device_service import logs  # noqa: E402
from device_service.models import Device, PropertyLog  # noqa: E402
from oms_gateway.databases import service_databases  # noqa: E402
from oms_gateway.stack import Stack, free_port, free_ports  # noqa: E402
from oms_shared import load_settings  # noqa: E402
from oms_simulator.credentials import Credentials, read_csv  # noqa: E402
from oms_simulator.fleet import Fleet, FleetConfig, raise_open_file_limit  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MODEL = {"properties": [{"identifier": "temperature", "dataType": {
    "type": "float", "specs": {"min": -40, "max": 120}}}], "events": ["alarm"]}
PAGE = 500
DEPTH = 10_000
PREFETCH, ACK_EVERY = 500, 200  # as the ingest worker (device_service.ingest)


# ---- helpers ---------------------------------------------------------------------------------


def _median_ms(call, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _rss_mib(pid: int, *, tree: bool = True) -> float:
    """VmRSS of ``pid`` and (``tree``) all its descendants, MiB."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, []) if tree else []
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def _cpu_s(pids: list[int], *, tree: bool = True) -> float:
    """User + system CPU seconds of ``pids`` and (``tree``) their descendants."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                stats[int(entry)] = fields
                children.setdefault(int(fields[1]), []).append(int(entry))
    ticks, todo, seen = 0, list(pids), set()
    while todo:
        current = todo.pop()
        if current in seen or current not in stats:
            continue
        seen.add(current)
        ticks += int(stats[current][11]) + int(stats[current][12])  # utime, stime
        todo += children.get(current, []) if tree else []
    return ticks / os.sysconf("SC_CLK_TCK")


class _Cpu:
    """CPU seconds spent by the broker, the consumer, the publishers (this process) and
    the rest of the platform between ``start()`` and ``stop()``."""

    def __init__(self, stack: Stack) -> None:
        self.broker = [_child_pid(stack, "broker")]
        self.worker = [_child_pid(stack, "device-ingest.run-1")]
        self.rest = [c.process.pid for c in stack.children
                     if c.process.pid not in self.broker + self.worker]

    def _now(self) -> dict[str, float]:
        return {"broker": _cpu_s(self.broker), "worker": _cpu_s(self.worker),
                "rest": _cpu_s(self.rest), "publishers": _cpu_s([os.getpid()], tree=False)}

    def start(self) -> None:
        self.began = self._now()

    def stop(self, messages: int) -> dict[str, float]:
        """Microseconds of CPU per message, by part."""
        end = self._now()
        return {k: (end[k] - self.began[k]) / messages * 1e6 for k in end}


def _child_pid(stack: Stack, name: str) -> int:
    [child] = [c for c in stack.children if c.name == name]
    return child.process.pid


def _payload(message_id: str) -> bytes:
    return json.dumps({"id": message_id, "version": "1.0",
                       "params": {"temperature": round(20 + secrets.randbelow(1000) / 100, 2)},
                       "time": int(time.time() * 1000)}, separators=(",", ":")).encode()


def _client(port: int, device: Credentials | None, index: int) -> aiomqtt.Client:
    if device is None:  # Mosquitto, anonymous
        return aiomqtt.Client("127.0.0.1", port, identifier=f"bench-{index}", timeout=30)
    pk, dn = device.product_key, device.device_name
    return aiomqtt.Client("127.0.0.1", port, identifier=f"{pk}.{dn}", username=f"{dn}&{pk}",
                          password=device.device_secret, timeout=30)


async def _open(clients: list[aiomqtt.Client]) -> None:
    slots = asyncio.Semaphore(50)

    async def one(client: aiomqtt.Client) -> None:
        async with slots:
            await client.__aenter__()

    await asyncio.gather(*(one(c) for c in clients))


async def _close(clients: list[aiomqtt.Client]) -> None:
    await asyncio.gather(*(c.__aexit__(None, None, None) for c in clients),
                         return_exceptions=True)


async def _drain(client: aiomqtt.Client, seen: list[int]) -> None:
    async for _ in client.messages:
        seen[0] += 1


async def _blast(port: int, devices: list[Credentials | None], messages: int,
                 topic, *, replies: bool = False) -> tuple[float, float, int]:
    """Every client publishes ``messages`` QoS 1 messages, one in flight each. Returns
    (time.time() of the first publish, of the last PUBACK, replies received)."""
    clients = [_client(port, d, i) for i, d in enumerate(devices)]
    await _open(clients)
    seen = [0]
    drains = []
    if replies:
        for client, device in zip(clients, devices, strict=True):
            assert device is not None
            await client.subscribe(f"{device.topic_prefix}/thing/event/+/post_reply", qos=1)
            drains.append(asyncio.create_task(_drain(client, seen)))
    run = secrets.token_hex(3)

    async def send(index: int, client: aiomqtt.Client) -> None:
        where = topic(index, devices[index])
        for n in range(messages):
            await client.publish(where, _payload(f"{run}-{n}"), qos=1)

    started = time.time()
    await asyncio.gather(*(send(i, c) for i, c in enumerate(clients)))
    finished = time.time()
    await asyncio.sleep(0.5 if replies else 0)
    for task in drains:
        task.cancel()
    await asyncio.gather(*drains, return_exceptions=True)
    await _close(clients)
    return started, finished, seen[0]


# ---- sinks, each in its own process ----------------------------------------------------------


def _amqp_sink(url: str, queue: str, binding: str, expected: int, pipe) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, "amq.topic", routing_key=binding)
    channel.basic_qos(prefetch_count=PREFETCH)
    pipe.send("ready")
    cpu = time.process_time()
    count, last = 0, 0.0
    for method, _props, _body in channel.consume(queue, inactivity_timeout=60):
        if method is None:
            break
        count += 1
        if count % ACK_EVERY == 0 or count >= expected:
            channel.basic_ack(method.delivery_tag, multiple=True)
        if count >= expected:
            last = time.time()
            break
    channel.cancel()
    channel.queue_delete(queue)
    connection.close()
    pipe.send((count, last, time.process_time() - cpu))


def _mqtt_sink(port: int, expected: int, pipe) -> None:
    cpu = time.process_time()

    async def main() -> tuple[int, float, float]:
        count, last = 0, 0.0
        async with aiomqtt.Client("127.0.0.1", port, identifier="bench-sink",
                                  timeout=30) as client:
            await client.subscribe("bench/#", qos=1)
            pipe.send("ready")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(120):
                    async for _ in client.messages:
                        count += 1
                        if count >= expected:
                            last = time.time()
                            break
        return count, last, time.process_time() - cpu

    pipe.send(asyncio.run(main()))


def _with_sink(target, args: tuple, blast) -> tuple[float, int, float]:
    """Start a sink process, run ``blast()`` (returns (started, ...)), wait for the sink:
    (messages per second from the first publish to the last received, count, the sink's
    CPU seconds)."""
    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    process = context.Process(target=target, args=(*args, there), daemon=True)
    process.start()
    if not here.poll(60):
        raise RuntimeError("the sink did not start")
    assert here.recv() == "ready"
    started = asyncio.run(blast())[0]
    if not here.poll(180):
        raise RuntimeError("the sink did not finish")
    count, last, cpu = here.recv()
    process.join(10)
    return count / (last - started) if last else 0.0, count, cpu


def mosquitto_rate(senders: int, messages: int) -> float:
    folder = Path(tempfile.mkdtemp(prefix="oms-bench-mosquitto-"))
    port = free_port()
    (folder / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 1000000\nmax_inflight_messages 100\n")
    broker = subprocess.Popen(["mosquitto", "-c", str(folder / "mosquitto.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        total = senders * messages
        rate, count, _cpu = _with_sink(_mqtt_sink, (port, total), lambda: _blast(
            port, [None] * senders, messages, lambda i, _d: f"bench/{i}"))
        assert count == total, f"mosquitto delivered {count} of {total}"
        return rate
    finally:
        broker.terminate()
        broker.wait(10)


# ---- the platform ----------------------------------------------------------------------------


def _latency(caller: Caller, port: int, probe: Credentials, others: list[Credentials],
             rate: float, seconds: float) -> tuple[list[float], float]:
    """Background at ``rate`` messages/s from ``others``; the probe's publish-to-visible
    times (ms), and the background rate achieved."""
    path = f"/oms/device/property/logs/{probe.device_id}"

    def newest() -> str | None:
        rows = caller.data(path, {"page_size": 1})["list"]
        return rows[0]["message_id"] if rows else None

    async def main() -> tuple[list[float], float]:
        clients = [_client(port, d, i) for i, d in enumerate([probe, *others])]
        await _open(clients)
        stop = asyncio.Event()
        sent = [0]
        gap = len(others) / rate
        run = secrets.token_hex(3)

        async def background(index: int, client: aiomqtt.Client, device: Credentials) -> None:
            loop = asyncio.get_running_loop()
            next_at = loop.time() + gap * index / len(others)
            n = 0
            while not stop.is_set():
                await asyncio.sleep(max(next_at - loop.time(), 0))
                await client.publish(f"{device.topic_prefix}/thing/event/property/post",
                                     _payload(f"bg{run}-{n}"), qos=1)
                n += 1
                sent[0] += 1
                next_at += gap

        tasks = [asyncio.create_task(background(i, c, d))
                 for i, (c, d) in enumerate(zip(clients[1:], others, strict=True))]
        await asyncio.sleep(2)  # let the background settle
        latencies: list[float] = []
        began, sent_before = time.perf_counter(), sent[0]
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            message_id = f"probe{run}-{n}"
            n += 1
            started = time.perf_counter()
            await clients[0].publish(f"{probe.topic_prefix}/thing/event/property/post",
                                     _payload(message_id), qos=1)
            while await asyncio.to_thread(newest) != message_id:
                if time.perf_counter() - started > 30:
                    raise RuntimeError("a probe report never became visible")
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.02)
        achieved = (sent[0] - sent_before) / (time.perf_counter() - began)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await _close(clients)
        return latencies, achieved

    return asyncio.run(main())


def _connections(stack: Stack, port: int, devices: list[Credentials]) -> dict:
    broker, worker = _child_pid(stack, "broker"), _child_pid(stack, "device-ingest.run-1")
    before = {"broker": _rss_mib(broker), "worker": _rss_mib(worker)}

    async def main() -> dict:
        fleet = Fleet(devices, config=FleetConfig(port=port, interval=30, events_every=0,
                                                  qos=1, timeout=30))
        running = asyncio.create_task(fleet.run())
        with contextlib.suppress(TimeoutError):
            await fleet.wait_connected(timeout=60 + len(devices) / 20)
        await asyncio.sleep(3)
        during = {"broker": _rss_mib(broker), "worker": _rss_mib(worker),
                  "simulator": _rss_mib(os.getpid(), tree=False), "online": fleet.stats.online}
        fleet.stop()
        stats = await running
        return {**during, "report": stats.report()}

    found = asyncio.run(main())
    return {"devices": len(devices), "connected": found["report"]["connected"],
            "connect_rate": found["report"]["connect_rate"],
            "connect_seconds": found["report"]["connect_seconds"],
            "connect_failures": found["report"]["connect_failures"],
            "online": found["online"], "simulator_rss": found["simulator"],
            "broker_before": before["broker"], "broker_during": found["broker"],
            "worker_before": before["worker"], "worker_during": found["worker"]}


def _log_depth(caller: Caller, engine, device: Credentials, small: Credentials,
               rows: int) -> dict:
    with engine.connect() as conn:
        tenant = conn.execute(select(Device.tenant).where(Device.id == device.device_id)
                              ).scalar_one()
    now = datetime.now(UTC).replace(microsecond=0)
    # the days' partitions (PostgreSQL), as the ingest worker would have made them
    logs.make_partitions(sessionmaker=sessionmaker(engine), days={
        (now - timedelta(seconds=i)).date() for i in [*range(0, rows, 3600), rows - 1]})
    started = time.perf_counter()
    table = PropertyLog.__table__
    for start in range(0, rows, 50_000):
        chunk = [{"device_id": device.device_id, "tenant": tenant, "identifier": "temperature",
                  "value": (i % 1000) / 10, "time": now - timedelta(seconds=i),
                  "received_at": now - timedelta(seconds=i),
                  "received_on": (now - timedelta(seconds=i)).date(), "message_id": f"seed-{i}"}
                 for i in range(start, min(start + 50_000, rows))]
        with engine.begin() as conn:
            conn.execute(insert(table), chunk)
    insert_s = time.perf_counter() - started
    with engine.connect() as conn:
        started = time.perf_counter()
        conn.execute(select(func.count()).select_from(table)
                     .where(table.c.device_id == device.device_id)).scalar_one()
        count_ms = (time.perf_counter() - started) * 1000
    path = f"/oms/device/property/logs/{device.device_id}"
    first = caller.data(path, {"page_size": PAGE})
    assert first["total"] >= rows, first["total"]
    cursor = first["next_cursor"]
    for _ in range(DEPTH // PAGE - 1):
        cursor = caller.data(path, {"page_size": PAGE, "cursor": cursor})["next_cursor"]
    deep = caller.data(path, {"page_size": PAGE, "cursor": cursor})
    assert deep["list"][0]["message_id"] == f"seed-{DEPTH}", deep["list"][0]
    small_path = f"/oms/device/property/logs/{small.device_id}"
    reads = {"first": lambda: caller.data(path, {"page_size": PAGE}),
             "deep": lambda: caller.data(path, {"page_size": PAGE, "cursor": cursor}),
             "small": lambda: caller.data(small_path, {"page_size": PAGE})}
    times: dict[str, list[float]] = {name: [] for name in reads}
    for _ in range(7):  # interleaved, so that drift in the machine's load hits all alike
        for name, read in reads.items():
            times[name].append(_median_ms(read, repeat=1))
    return {"rows": rows, "insert_s": insert_s, "count_ms": count_ms,
            **{f"{name}_ms": statistics.median(t) for name, t in times.items()}}


def run_backend(backend: str, args: argparse.Namespace) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="oms-bench-channel-"))
    env = {"OMS_LOG_LEVEL": "WARNING"}
    databases = contextlib.ExitStack()
    if backend == "postgresql":  # a database per service, as in production
        env.update(databases.enter_context(service_databases(PG_ADMIN, "bench")))
    stack = Stack(data_dir=data_dir, listen=f"127.0.0.1:{free_port()}",
                  service_ports=free_ports(), env=env, workers=2, threads=4,
                  log_to_files=True, channel=True)
    stack.start(timeout=120)
    results: dict = {"backend": backend}
    engine = None
    try:
        caller = Caller(stack.url, stack.credentials["app_id"],
                        stack.credentials["app_secret"]).sign_in()
        product = caller.data("/oms/product/add", {"name": "bench", "code": "channel",
                                                   "thing_model": MODEL})
        amount = max(args.devices, args.senders + 1) + 1
        batch = caller.data("/oms/produce/submit", {"name": "channel", "amount": amount,
                                                    "batch_no": "CHANNEL",
                                                    "product_id": product["id"]})
        caller.data(f"/oms/produce/confirm/{batch['id']}")
        csv_path = data_dir / "batch.csv"
        csv_path.write_bytes(caller.post(f"/oms/produce/download/{batch['id']}").content)
        devices = read_csv(csv_path)
        assert len(devices) == amount
        mqtt_port = int(stack.child_env["OMS_BROKER__URL"].rsplit(":", 1)[1])
        amqp_url = stack.child_env["OMS_BROKER__AMQP_URL"]
        settings = load_settings(environ=stack.child_env)
        url = settings.database_url("device")
        engine = create_engine(url, **({"connect_args": {"timeout": 30}}
                                       if url.startswith("sqlite") else {}))
        senders, messages = devices[:args.senders], args.messages
        total = len(senders) * messages

        # 1. throughput: the broker's pass-through first, then the platform
        cpu = _Cpu(stack)
        cpu.start()
        results["passthrough"], count, sink_cpu = _with_sink(
            _amqp_sink, (amqp_url, "bench.passthrough", ".sys.*.*.bench", total),
            lambda: _blast(mqtt_port, senders, messages,
                           lambda _i, d: f"{d.topic_prefix}/bench"))
        assert count == total, f"pass-through delivered {count} of {total}"
        results["cpu_passthrough"] = {**cpu.stop(total), "worker": sink_cpu / total * 1e6}

        def stored() -> int:
            with engine.connect() as conn:
                return conn.execute(select(func.count()).select_from(PropertyLog.__table__)
                                    ).scalar_one()

        before = stored()
        cpu.start()
        started, acked, replies = asyncio.run(_blast(
            mqtt_port, senders, messages,
            lambda _i, d: f"{d.topic_prefix}/thing/event/property/post", replies=True))
        while stored() < before + total:
            if time.time() - acked > 120:
                raise RuntimeError(f"only {stored() - before} of {total} rows stored")
            time.sleep(0.02)
        results["stored"] = total / (time.time() - started)
        results["cpu_platform"] = cpu.stop(total)
        results["acked_rate"] = total / (acked - started)
        results["replies"] = replies
        totals = sum(caller.data(f"/oms/device/property/logs/{d.device_id}",
                                 {"page_size": 1})["total"] for d in senders)
        assert totals == total, f"log API totals {totals}, published {total}"
        results["total"] = total

        latencies, achieved = _latency(caller, mqtt_port, devices[args.senders],
                                       senders, results["stored"] / 2, args.latency_seconds)
        q = statistics.quantiles(latencies, n=100)
        results.update(p50=q[49], p99=q[98], probes=len(latencies), background=achieved)

        # 2. many devices at once
        results["connections"] = _connections(stack, mqtt_port, devices[:args.devices])

        # 3. a long log
        results["logs"] = _log_depth(caller, engine, devices[-1], senders[0], args.log_rows)
    finally:
        if engine is not None:
            engine.dispose()
        stack.stop()
        databases.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--messages", type=int, default=200, help="reports per sender")
    parser.add_argument("--devices", type=int, default=2000, help="connected at once")
    parser.add_argument("--log-rows", type=int, default=1_000_000)
    parser.add_argument("--latency-seconds", type=float, default=15)
    parser.add_argument("--backends", default="sqlite")
    args = parser.parse_args()
    if args.log_rows <= DEPTH + PAGE:
        parser.error(f"--log-rows must exceed {DEPTH + PAGE}")
    raise_open_file_limit()
    load = Path("/proc/loadavg").read_text().split()[:3]
    mosquitto = mosquitto_rate(args.senders, args.messages)
    rows = [run_backend(b, args) for b in args.backends.split(",")]
    print(f"machine: {os.cpu_count()} cores, load average at start {' '.join(load)}; "
          f"{args.senders} senders x {args.messages} QoS 1 reports = "
          f"{args.senders * args.messages} messages\n")
    print("| backend | RabbitMQ pass-through (floor), msg/s | stored/s | stored / floor | "
          "PUBACKed/s (platform run) | Mosquitto pass-through (reference), msg/s | "
          "publish to visible at half rate: p50 / p99 (ms) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['passthrough']:.0f} | {r['stored']:.0f} | "
              f"{r['stored'] / r['passthrough']:.2f} | {r['acked_rate']:.0f} | "
              f"{mosquitto:.0f} | {r['p50']:.0f} / {r['p99']:.0f} "
              f"({r['probes']} probes, background {r['background']:.0f}/s) |")
    print()
    print("| backend | run | broker | consumer (pika sink / ingest worker) | publishers "
          "(this process) | rest of the platform | total |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        for name, key in (("pass-through", "cpu_passthrough"), ("platform", "cpu_platform")):
            c = r[key]
            print(f"| {r['backend']} | {name} | {c['broker']:.0f} | {c['worker']:.0f} | "
                  f"{c['publishers']:.0f} | {c['rest']:.0f} | {sum(c.values()):.0f} |")
    print()
    print("| backend | devices | connected | connect rate (/s) | broker RSS: idle -> all "
          "connected (MiB) | ingest worker RSS: idle -> all connected (MiB) | "
          "simulator RSS (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        c = r["connections"]
        print(f"| {r['backend']} | {c['devices']} | {c['connected']} | {c['connect_rate']:.0f} "
              f"| {c['broker_before']:.0f} -> {c['broker_during']:.0f} | "
              f"{c['worker_before']:.0f} -> {c['worker_during']:.0f} | "
              f"{c['simulator_rss']:.0f} |")
    print()
    print(f"| backend | rows | Core insert (s) | count(*) of the device's rows (ms) | first "
          f"page (ms) | page {DEPTH:,} rows deep by cursor (ms) | deep / first | first page, "
          f"device with {args.messages} rows (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        lg = r["logs"]
        print(f"| {r['backend']} | {lg['rows']} | {lg['insert_s']:.1f} | {lg['count_ms']:.0f} "
              f"| {lg['first_ms']:.1f} | {lg['deep_ms']:.1f} | "
              f"{lg['deep_ms'] / lg['first_ms']:.2f} | {lg['small_ms']:.1f} |")


if __name__ == "__main__":
    main()
