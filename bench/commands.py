"""Commands under measure: a property set through the gateway against a raw MQTT
request/reply round trip on the same broker, same run.

    python bench/commands.py [--calls 300] [--concurrency 32] [--backends postgresql]

One run per backend on a fresh platform with its private RabbitMQ node
(``Stack(channel=True)``; the command service: 2 gevent workers, one replies worker).
One real MQTT device (aiomqtt, its own thread) answers every command at once.

1. Floor: a second MQTT client on the same node (the platform's own broker user, which
   may use any topic) publishes the same property set to the device's
   ``thing/service/property/set`` topic at QoS 1 and waits for its ``set_reply``, one
   at a time, ``--calls`` times: p50 and p99.
2. The platform: ``/oms/device/property/set`` through the gateway (token, checks,
   record, publish, the reply back through the replies worker and Redis), one at a
   time, ``--calls`` times: p50, p99, and the ratio of the p50s.
3. Waiting without threads: ``--concurrency`` property sets at once against a device
   that never answers (``timeout_ms`` 3000) while a client reads the command log; the
   log reads' p50 during the waits against before them.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import aiomqtt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import Caller  # noqa: E402
from oms_gateway.databases import service_databases  # noqa: E402
from oms_gateway.stack import Stack, free_port, free_ports  # noqa: E402
from oms_simulator.credentials import read_csv  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MODEL = {"properties": [{"identifier": "level", "accessMode": "rw",
                         "dataType": {"type": "int", "specs": {"min": 0, "max": 100}}}]}


#: The per-app quota is checked on every request (its cost is measured) but never binds:
#: one app here sends thousands of requests a second.
QUOTA = {"OMS_QUOTA__RATE_PER_SECOND": "1000000", "OMS_QUOTA__BURST": "1000000"}


class Responder:
    """A device that answers every command at once (or never, when ``silent``)."""

    def __init__(self, port: int, device: Any) -> None:
        self.port, self.device, self.silent = port, device, False
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),),
                                       daemon=True)
        self.stop: asyncio.Event | None = None

    async def _run(self) -> None:
        self.stop = asyncio.Event()
        d = self.device
        async with aiomqtt.Client("127.0.0.1", self.port,
                                  identifier=f"{d.product_key}.{d.device_name}",
                                  username=f"{d.device_name}&{d.product_key}",
                                  password=d.device_secret, timeout=10) as client:
            await client.subscribe(f"{d.topic_prefix}/thing/service/#", qos=1)
            self.ready.set()
            listener = asyncio.create_task(self._listen(client))
            await self.stop.wait()
            listener.cancel()

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = message.topic.value
            if topic.endswith("_reply") or self.silent:
                continue
            body = json.loads(message.payload)
            await client.publish(f"{topic}_reply", json.dumps(
                {"id": body["id"], "code": 200, "data": {}}), qos=1)

    def __enter__(self) -> Responder:
        self.thread.start()
        assert self.ready.wait(15)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)  # type: ignore[union-attr]
        self.thread.join(10)
        self.loop.close()


async def _raw_round_trips(port: int, amqp_url: str, device: Any, calls: int) -> list[float]:
    url = urlparse(amqp_url)
    topic = f"{device.topic_prefix}/thing/service/property/set"
    times: list[float] = []
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-requester",
                              username=unquote(url.username or ""),
                              password=unquote(url.password or ""), timeout=10) as client:
        await client.subscribe(f"{topic}_reply", qos=1)
        messages = client.messages
        for i in range(calls):
            mid = f"raw{i}"
            started = time.perf_counter()
            await client.publish(topic, json.dumps({"id": mid, "version": "1.0",
                                                    "params": {"level": i % 100}}), qos=1)
            async for message in messages:
                if json.loads(message.payload).get("id") == mid:
                    break
            times.append((time.perf_counter() - started) * 1000)
    return times


def _quantiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=100)
    return q[49], q[98]


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="oms-bench-commands-"))
    env = {"OMS_LOG_LEVEL": "WARNING", **QUOTA}
    databases = contextlib.ExitStack()
    if backend == "postgresql":
        env.update(databases.enter_context(service_databases(PG_ADMIN, "bench")))
    stack = Stack(data_dir=data_dir, listen=f"127.0.0.1:{free_port()}",
                  service_ports=free_ports(), env=env, workers=2, threads=4,
                  log_to_files=True, channel=True)
    stack.start(timeout=120)
    results: dict[str, Any] = {"backend": backend}
    try:
        caller = Caller(stack.url, stack.credentials["app_id"],
                        stack.credentials["app_secret"]).sign_in()
        product = caller.data("/oms/product/add", {"name": "bench", "code": "commands",
                                                   "thing_model": MODEL})
        batch = caller.data("/oms/produce/submit", {"name": "commands", "amount": 1,
                                                    "batch_no": "COMMANDS",
                                                    "product_id": product["id"]})
        caller.data(f"/oms/produce/confirm/{batch['id']}")
        csv_path = data_dir / "batch.csv"
        csv_path.write_bytes(caller.post(f"/oms/produce/download/{batch['id']}").content)
        [device] = read_csv(csv_path)
        user = caller.data("/oms/user/add", {"username": "13900000000", "password": "bench-pw"})
        caller.data("/oms/user/bind", {"user_id": user["id"], "device_id": device.device_id})
        port = int(stack.child_env["OMS_BROKER__URL"].rsplit(":", 1)[1])
        with Responder(port, device) as responder:
            deadline = time.time() + 15
            while caller.data(f"/oms/device/detail/{device.device_id}")["status"] != "online":
                assert time.time() < deadline, "the device never came online"
                time.sleep(0.1)
            raw = asyncio.run(_raw_round_trips(port, stack.child_env["OMS_BROKER__AMQP_URL"],
                                               device, args.calls))
            body = {"user_id": user["id"], "device_id": device.device_id,
                    "params": {"level": 1}}
            for _ in range(10):  # warm the caches and connections
                caller.data("/oms/device/property/set", body)
            platform = []
            for i in range(args.calls):
                body["params"] = {"level": i % 100}
                started = time.perf_counter()
                caller.data("/oms/device/property/set", body)
                platform.append((time.perf_counter() - started) * 1000)
            results["raw_p50"], results["raw_p99"] = _quantiles(raw)
            results["p50"], results["p99"] = _quantiles(platform)

            log_path = f"/oms/device/command/logs/{device.device_id}"
            quiet = []
            for _ in range(30):
                started = time.perf_counter()
                caller.data(log_path, {"page_size": 20})
                quiet.append((time.perf_counter() - started) * 1000)
            responder.silent = True
            waiting = {**body, "timeout_ms": 3000}
            busy: list[float] = []
            with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
                waits = [pool.submit(caller.post, "/oms/device/property/set", waiting)
                         for _ in range(args.concurrency)]
                time.sleep(0.5)
                while not any(w.done() for w in waits):
                    started = time.perf_counter()
                    caller.data(log_path, {"page_size": 20})
                    busy.append((time.perf_counter() - started) * 1000)
                codes = [w.result().status_code for w in waits]
            results["waits"] = args.concurrency
            results["waits_504"] = codes.count(504)
            results["log_quiet_p50"] = statistics.median(quiet)
            results["log_busy_p50"] = statistics.median(busy) if busy else float("nan")
            results["log_busy_reads"] = len(busy)
    finally:
        stack.stop()
        databases.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--backends", default="postgresql")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        r = run_backend(backend, args)
        print(f"[{backend}] raw MQTT request/reply: p50 {r['raw_p50']:.2f} ms, "
              f"p99 {r['raw_p99']:.2f} ms ({args.calls} calls)")
        print(f"[{backend}] property set via gateway: p50 {r['p50']:.2f} ms, "
              f"p99 {r['p99']:.2f} ms; p50 ratio {r['p50'] / r['raw_p50']:.1f}x the raw round trip")
        print(f"[{backend}] {r['waits']} waits at once on a silent device "
              f"({r['waits_504']} answered 504): command log p50 {r['log_busy_p50']:.2f} ms "
              f"during them ({r['log_busy_reads']} reads) vs {r['log_quiet_p50']:.2f} ms before")


if __name__ == "__main__":
    main()
