"""The device channel under failure: every report the broker acknowledged (MQTT QoS 1) is
stored exactly once, whether an ingest worker is killed (SIGKILL) or the broker node is
restarted while a fleet of simulated devices keeps publishing."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from oms_shared.testing import wait_until

pytestmark = pytest.mark.e2e

MODEL = {"properties": [{"identifier": "temperature", "dataType": {
    "type": "float", "specs": {"min": -40, "max": 120}}}], "events": ["alarm"]}
INGEST = "device-ingest.run-1"
DEVICES = 20


@pytest.fixture(scope="module")
def platform(channel_platform):
    return channel_platform


@pytest.fixture(scope="module")
def product(caller):
    # One property: one property-log row per report, so message ids are unique per device.
    return caller.data("/oms/product/add", {"name": "sensor", "code": "reliability-e2e",
                                            "thing_model": MODEL})


@pytest.fixture(scope="module")
def model_file(caller, product, tmp_path_factory):
    path = tmp_path_factory.mktemp("reliability") / "model.json"
    path.write_text(json.dumps(caller.data(f"/oms/product/detail/{product['id']}")))
    return path


def _fleet(caller, product, batch_no: str, folder: Path) -> tuple[Path, list[dict]]:
    """A confirmed batch of DEVICES devices: its CSV file and rows."""
    batch = caller.data("/oms/produce/submit", {"name": batch_no, "amount": DEVICES,
                                                "product_id": product["id"],
                                                "batch_no": batch_no})
    caller.data(f"/oms/produce/confirm/{batch['id']}")
    path = folder / f"{batch_no}.csv"
    path.write_bytes(caller.post(f"/oms/produce/download/{batch['id']}").content)
    return path, list(csv.DictReader(io.StringIO(path.read_text())))


def _simulate(fleet_csv: Path, model: Path, port: int, folder: Path,
              *options: str) -> tuple[subprocess.Popen, Path, Path]:
    """oms-sim in the background (QoS 1): the process, its --acked and --report files."""
    acked, report = folder / "acked.csv", folder / "report.json"
    output = (folder / "sim.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "oms-sim"), "--csv", str(fleet_csv), "--port",
         str(port), "--model", str(model), "--events-every", "5", "--qos", "1",
         "--acked", str(acked), "--report", str(report), *options],
        stdout=output, stderr=subprocess.STDOUT)
    output.close()
    return process, acked, report


def _finish(process: subprocess.Popen, folder: Path, timeout: float) -> None:
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    assert code == 0, (folder / "sim.log").read_text()


def _total(caller, device_id: str) -> int:
    return sum(caller.data(f"/oms/device/{kind}/logs/{device_id}", {"page_size": 1})["total"]
               for kind in ("property", "event"))


def _stored_ids(caller, device_id: str) -> list[str]:
    """The message ids of every property- and event-log row of a device (all pages)."""
    ids: list[str] = []
    for kind in ("property", "event"):
        body: dict = {"page_size": 500}
        while True:
            page = caller.data(f"/oms/device/{kind}/logs/{device_id}", body)
            ids += [row["message_id"] for row in page["list"]]
            if not page["next_cursor"]:
                break
            body = {"page_size": 500, "cursor": page["next_cursor"]}
    return ids


def _assert_exactly_once(caller, devices: list[dict], acked_file: Path) -> int:
    """Every acknowledged post stored once, nothing else stored; the number acknowledged."""
    acked: dict[str, list[str]] = {d["device_name"]: [] for d in devices}
    for row in csv.DictReader(io.StringIO(acked_file.read_text())):
        acked[row["device_name"]].append(row["message_id"])
    expected = sum(len(ids) for ids in acked.values())
    # The queue drains after the simulator is done: wait until as many rows as posts
    # acknowledged exist, then compare (a loss is then reported with its message ids).
    with contextlib.suppress(AssertionError):
        wait_until(lambda: sum(_total(caller, d["device_id"]) for d in devices) >= expected,
                   timeout=30, interval=0.25, what="every acknowledged report stored")
    for device in devices:
        sent = acked[device["device_name"]]
        assert len(sent) == len(set(sent)), f"{device['device_name']}: acked twice"
        stored = _stored_ids(caller, device["device_id"])
        twice = sorted(mid for mid, n in Counter(stored).items() if n > 1)
        assert not twice, f"{device['device_name']}: stored more than once: {twice}"
        missing, extra = set(sent) - set(stored), set(stored) - set(sent)
        assert not missing, f"{device['device_name']}: acknowledged, not stored: " \
                            f"{sorted(missing)}"
        assert not extra, f"{device['device_name']}: stored, never acknowledged: " \
                          f"{sorted(extra)}"
    return expected


def _child(platform, name: str):
    return next(c for c in platform.stack.children if c.name == name)


def test_a_killed_ingest_worker_loses_and_doubles_nothing(caller, product, platform,
                                                          model_file, mqtt_port, tmp_path):
    assert INGEST in platform.stack.worker_names()
    fleet_csv, devices = _fleet(caller, product, "REL-KILL", tmp_path)
    process, acked, report = _simulate(fleet_csv, model_file, mqtt_port, tmp_path,
                                       "--interval", "0.05", "--messages", "40",
                                       "--duration", "90")
    try:
        first = devices[0]["device_id"]
        wait_until(lambda: _total(caller, first) >= 3, timeout=30, interval=0.05,
                   what="the first reports stored")
        worker = _child(platform, INGEST)
        killed = worker.process.pid
        os.kill(killed, signal.SIGKILL)
        assert process.poll() is None, "the simulator was done before the worker was killed"
        # The supervisor starts it again (after its back-off) as a new process.
        wait_until(lambda: _child(platform, INGEST).process.pid != killed
                   and _child(platform, INGEST).process.poll() is None,
                   timeout=30, interval=0.1, what="the ingest worker started again")
        _finish(process, tmp_path, timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stats = json.loads(report.read_text())
    assert stats["acknowledged"] == DEVICES * (40 + 40 // 5)  # 40 reports, 8 alarms each
    assert _assert_exactly_once(caller, devices, acked) == stats["acknowledged"]
    assert platform.stack.failure is None


def test_a_broker_restart_loses_and_doubles_nothing(caller, product, platform, model_file,
                                                    mqtt_port, tmp_path):
    stack = platform.stack
    broker = stack.broker
    assert broker is not None
    ports = (broker.mqtt_port, broker.amqp_port, broker.management_port)
    assert broker.mqtt_port == mqtt_port
    fleet_csv, devices = _fleet(caller, product, "REL-BROKER", tmp_path)
    process, acked, report = _simulate(fleet_csv, model_file, mqtt_port, tmp_path,
                                       "--interval", "0.1", "--messages", "60",
                                       "--duration", "120")
    try:
        first = devices[0]["device_id"]
        wait_until(lambda: _total(caller, first) >= 5, timeout=30, interval=0.05,
                   what="the first reports stored")
        old = _child(platform, "broker").process.pid
        stack.restart_broker()
        assert process.poll() is None, "the simulator was done before the broker restarted"
        assert _child(platform, "broker").process.pid != old
        # Same ports, so devices and workers reconnect where they were.
        assert (broker.mqtt_port, broker.amqp_port, broker.management_port) == ports
        assert stack.child_env["OMS_BROKER__URL"] == f"mqtt://127.0.0.1:{mqtt_port}"
        _finish(process, tmp_path, timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stats = json.loads(report.read_text())
    assert stats["reconnects"] >= 1, stats  # the devices did see the broker go
    # Most posts were acknowledged (a device's last ones may meet the restart and the
    # --duration); what matters is next: every acknowledged one stored, exactly once.
    assert stats["acknowledged"] >= DEVICES * 60, stats
    assert _assert_exactly_once(caller, devices, acked) == stats["acknowledged"]
    assert platform.stack.failure is None
