"""The simulator against a real (private) Mosquitto, watched by a second MQTT client."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from oms_simulator import Fleet, FleetConfig, Model, read_csv

pytestmark = pytest.mark.e2e


@dataclass
class Watcher:
    client: aiomqtt.Client
    seen: list[tuple[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def collect(self) -> None:
        async for message in self.client.messages:
            payload = message.payload
            body = json.loads(payload) if isinstance(payload, bytes | str) else payload
            self.seen.append((message.topic.value, body))
            self.changed.set()

    def matching(self, pattern: str) -> list[tuple[str, Any]]:
        return [(t, b) for t, b in self.seen if re.fullmatch(pattern, t)]

    async def wait_for(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                self.changed.clear()
                await self.changed.wait()

    async def send(self, topic: str, body: dict[str, Any]) -> None:
        await self.client.publish(topic, json.dumps(body), qos=1)


@asynccontextmanager
async def watching(port: int, topic: str = "/sys/#", **login: str) -> AsyncIterator[Watcher]:
    async with aiomqtt.Client("127.0.0.1", port, identifier="watcher", **login) as client:
        await client.subscribe(topic, qos=1)
        watcher = Watcher(client)
        task = asyncio.create_task(watcher.collect())
        try:
            yield watcher
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def stop(fleet: Fleet, run: asyncio.Task[Any]) -> None:
    fleet.stop()
    await asyncio.wait_for(run, 20)


def test_devices_connect_with_their_credentials(tmp_path: Path, broker_factory: Any) -> None:
    devices = read_csv(_batch(tmp_path, 3))
    users = {f"{d.device_name}&{d.product_key}": d.device_secret for d in devices[:2]}
    broker = broker_factory(users={**users, "watcher": "w"})

    async def scenario() -> None:
        config = FleetConfig(port=broker.port, interval=0.2, messages=1, linger=0)
        fleet = Fleet(devices[:2], config=config)
        assert (await fleet.run()).report()["connected"] == 2
        # The third device is not in the password file: refused, retried, never connected.
        wrong = Fleet(devices[2:], config=FleetConfig(port=broker.port, duration=1.0))
        stats = await wrong.run()
        assert stats.connected == 0 and stats.connect_failures >= 2
        assert stats.sent == 0

    asyncio.run(scenario())
    log = broker.log_text()
    for d in devices[:2]:
        assert f"as {d.product_key}.{d.device_name} (p2, c1, k60, " \
               f"u'{d.device_name}&{d.product_key}')" in log
    assert "not authorised" in log


def test_reports_and_events_follow_the_model(tmp_path: Path, broker: Any,
                                             full_model: dict[str, Any],
                                             check_report: Any) -> None:
    devices = read_csv(_batch(tmp_path, 2))

    async def scenario() -> tuple[Fleet, Watcher]:
        async with watching(broker.port) as watcher:
            config = FleetConfig(port=broker.port, interval=0.05, messages=4, events_every=2,
                                 linger=0, record_acked=True)
            fleet = Fleet(devices, Model.from_json(full_model), config)
            await fleet.run()
            await watcher.wait_for(lambda: len(watcher.matching(r".*/post")) >= 16)
            await watcher.wait_for(lambda: len(watcher.matching(r".*/status")) >= 4)
        return fleet, watcher

    fleet, watcher = asyncio.run(scenario())
    for device, run in zip(devices, fleet.devices, strict=True):
        prefix = f"/sys/pk1/{device.device_name}"
        reports = watcher.matching(f"{prefix}/thing/event/property/post")
        assert len(reports) == 4
        for _, body in reports:
            assert set(body) == {"id", "version", "params", "time"}
            assert body["version"] == "1.0" and isinstance(body["id"], str)
            assert abs(body["time"] - time.time() * 1000) < 60_000
            check_report(full_model, body["params"])
        # two rounds of events (after reports 2 and 4), each event once per round
        alarms = watcher.matching(f"{prefix}/thing/event/alarm/post")
        assert len(alarms) == 2 and all(1 <= b["params"]["level"] <= 3 for _, b in alarms)
        assert [b["params"] for _, b in watcher.matching(
            f"{prefix}/thing/event/switchon/post")] == [{}, {}]
        statuses = [b for _, b in watcher.matching(f"{prefix}/thing/status")]
        assert statuses == [{"status": "online"}, {"status": "offline"}]
        ids = [b["id"] for t, b in watcher.seen if t.startswith(prefix) and t.endswith("/post")]
        assert len(ids) == len(set(ids)) == 8  # unique per device, as the platform keys them
        assert ids == run.acked_ids
    assert fleet.stats.sent == fleet.stats.acknowledged == 16


def test_property_set_and_service_call_are_answered(tmp_path: Path, broker: Any,
                                                    full_model: dict[str, Any]) -> None:
    devices = read_csv(_batch(tmp_path, 1))
    prefix = "/sys/pk1/dev0/thing"

    async def scenario() -> tuple[Fleet, Watcher, int]:
        async with watching(broker.port) as watcher:
            fleet = Fleet(devices, Model.from_json(full_model),
                          FleetConfig(port=broker.port, interval=0.1))
            run = asyncio.create_task(fleet.run())
            await fleet.wait_connected()
            await watcher.wait_for(lambda: len(watcher.matching(r".*/property/post")) >= 1)
            await watcher.send(f"{prefix}/service/property/set",
                               {"id": "set-1", "version": "1.0", "params": {"count": 4}})
            await watcher.wait_for(lambda: bool(watcher.matching(r".*/set_reply")))
            answered_at = len(watcher.seen)
            await watcher.wait_for(lambda: any(
                t.endswith("/property/post") for t, _ in watcher.seen[answered_at:]))
            await watcher.send(f"{prefix}/service/reboot",
                               {"id": "svc-9", "version": "1.0", "params": {}})
            await watcher.send(f"{prefix}/service/ping", {"id": "svc-10", "params": {}})
            await watcher.wait_for(lambda: len(watcher.matching(r".*/(reboot|ping)_reply")) == 2)
            await stop(fleet, run)
        return fleet, watcher, answered_at

    fleet, watcher, answered_at = asyncio.run(scenario())
    assert [b for _, b in watcher.matching(f"{prefix}/service/property/set_reply")] == [
        {"id": "set-1", "code": 200, "data": {}}]
    after = [b["params"]["count"] for t, b in watcher.seen[answered_at:]
             if t.endswith("/property/post")]
    assert after and all(count == 4 for count in after)
    (_, reboot), = watcher.matching(f"{prefix}/service/reboot_reply")
    assert reboot["id"] == "svc-9" and reboot["code"] == 200
    assert set(reboot["data"]) == {"ok"}  # the service's outputData
    assert [b for _, b in watcher.matching(f"{prefix}/service/ping_reply")] == [
        {"id": "svc-10", "code": 200, "data": {}}]
    assert fleet.stats.commands == 3


def test_replies_to_posts_are_counted(tmp_path: Path, broker: Any) -> None:
    devices = read_csv(_batch(tmp_path, 1))

    async def scenario() -> Fleet:
        async with watching(broker.port, "/sys/+/+/thing/event/+/post") as platform:
            async def answer() -> None:  # what the platform's ingest does
                answered = 0
                while True:
                    await platform.wait_for(lambda n=answered: len(platform.seen) > n)
                    for topic, body in platform.seen[answered:]:
                        code = 200 if answered % 2 == 0 else 460
                        await platform.send(topic + "_reply", {"id": body["id"], "code": code,
                                                               "data": {}})
                        answered += 1
            answerer = asyncio.create_task(answer())
            fleet = Fleet(devices, config=FleetConfig(port=broker.port, interval=0.02,
                                                      messages=6, linger=5))
            await fleet.run()
            answerer.cancel()
            await asyncio.gather(answerer, return_exceptions=True)
        return fleet

    stats = asyncio.run(scenario()).stats
    assert (stats.sent, stats.replies, stats.rejected) == (6, 6, 3)


def test_a_killed_simulator_leaves_its_will(tmp_path: Path, broker: Any) -> None:
    csv = _batch(tmp_path, 3)
    command = [sys.executable, "-m", "oms_simulator.cli", "--csv", str(csv), "--port",
               str(broker.port), "--interval", "0.2"]

    async def scenario() -> Watcher:
        async with watching(broker.port, "/sys/+/+/thing/status") as watcher:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            try:
                await watcher.wait_for(lambda: len(watcher.seen) == 3)
            finally:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(10)
            await watcher.wait_for(lambda: len(watcher.seen) == 6)
        return watcher

    watcher = asyncio.run(scenario())
    for i in range(3):
        assert [b for _, b in watcher.matching(f"/sys/pk1/dev{i}/thing/status")] == [
            {"status": "online"}, {"status": "offline"}]


def test_sigterm_prints_a_summary_and_writes_the_report(tmp_path: Path, broker: Any) -> None:
    csv = _batch(tmp_path, 4)
    report = tmp_path / "stats.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "oms_simulator.cli", "--csv", str(csv), "--count", "3",
         "--port", str(broker.port), "--interval", "0.05", "--report", str(report)],
        stdout=subprocess.PIPE, text=True)
    time.sleep(1.5)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert re.fullmatch(r"oms-sim: 3/3 devices connected in .*\n", out)
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["connected"] == 3 and data["sent"] > 3
    assert data["acknowledged"] == data["sent"] and data["connect_rate"] > 0
    assert {"replies", "commands", "reconnects"} <= set(data)


def test_the_fleet_reconnects_after_a_broker_restart(tmp_path: Path, broker: Any) -> None:
    devices = read_csv(_batch(tmp_path, 20))

    async def scenario() -> Fleet:
        fleet = Fleet(devices, config=FleetConfig(port=broker.port, interval=0.05,
                                                  record_acked=True))
        run = asyncio.create_task(fleet.run())
        await fleet.wait_connected()
        await asyncio.sleep(0.3)
        # Freeze the broker so every device has a post out with no PUBACK, then kill it.
        broker.process.send_signal(signal.SIGSTOP)
        await asyncio.sleep(0.5)
        broker.kill()
        await asyncio.sleep(1.0)
        assert fleet.stats.online == 0
        before = fleet.stats.acknowledged
        broker.start()
        await fleet.wait_connected(timeout=20)
        async with asyncio.timeout(10):
            while fleet.stats.acknowledged < before + 40:
                await asyncio.sleep(0.05)
        await stop(fleet, run)
        return fleet

    fleet = asyncio.run(scenario())
    stats = fleet.stats
    assert stats.reconnects == 20 and stats.disconnects == 20 and stats.connected == 20
    assert stats.connect_failures >= 1  # the broker refused while it was away
    # the post cut off by the restart is sent again with its id: acknowledged once, none lost
    assert stats.retried == 20
    assert stats.acknowledged == stats.sent
    for device in fleet.devices:
        assert len(device.acked_ids) == len(set(device.acked_ids)) == device.posts_acked


def test_500_devices_connect_from_one_process(tmp_path: Path, broker: Any,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    devices = read_csv(_batch(tmp_path, 500))

    async def scenario() -> Fleet:
        fleet = Fleet(devices, config=FleetConfig(port=broker.port, interval=30))
        run = asyncio.create_task(fleet.run())
        await fleet.wait_connected(timeout=120)
        await stop(fleet, run)
        return fleet

    stats = asyncio.run(scenario()).stats
    assert stats.connected == 500 and stats.connect_failures == 0
    with capsys.disabled():
        print(f"\n500 devices against Mosquitto: {stats.connect_rate} connects/s "
              f"({stats.connect_seconds:.2f}s)")


def _batch(tmp_path: Path, count: int) -> Path:
    lines = ["device_id,product_key,device_name,device_secret,batch_no"]
    lines += [f"{i + 1},pk1,dev{i},secret{i:04d},B1" for i in range(count)]
    path = tmp_path / "batch.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
