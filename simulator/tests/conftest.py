"""A private Mosquitto per test (never port 1883), and batch CSVs to feed the simulator."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oms_shared import check_property_set, parse_thing_model

# A thing model with every data type.
FULL_MODEL: dict[str, Any] = {
    "properties": [
        {"identifier": "count", "dataType": {"type": "int", "specs": {"min": -5, "max": 5}}},
        {"identifier": "temperature",
         "dataType": {"type": "float", "specs": {"min": -40, "max": 120.5}}},
        {"identifier": "ratio", "dataType": {"type": "double", "specs": {"min": 0, "max": 1}}},
        {"identifier": "power", "dataType": {"type": "bool"}},
        {"identifier": "label", "dataType": {"type": "text", "specs": {"length": 4}}},
        {"identifier": "mode",
         "dataType": {"type": "enum", "specs": {"0": "off", "2": "heat", "7": "cool"}}},
        {"identifier": "seen", "dataType": {"type": "date"}},
        {"identifier": "position", "dataType": {"type": "struct", "specs": [
            {"identifier": "x", "dataType": {"type": "int", "specs": {"min": 10, "max": 12}}},
            {"identifier": "tags", "dataType": {"type": "array", "specs": {
                "size": 2, "item": {"type": "text", "specs": {"length": 3}}}}}]}},
        {"identifier": "levels", "dataType": {"type": "array", "specs": {
            "size": 5, "item": {"type": "float", "specs": {"min": 1, "max": 2}}}}},
        "anything",
    ],
    "events": [
        {"identifier": "alarm", "type": "alert", "outputData": [
            {"identifier": "level", "dataType": {"type": "int", "specs": {"min": 1, "max": 3}}}]},
        "switchon",
    ],
    "services": [
        {"identifier": "reboot", "inputData": [], "outputData": [
            {"identifier": "ok", "dataType": {"type": "bool"}}]},
        "ping",
    ],
}


MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """``mosquitto -c conf`` on a free port; ``users`` turns anonymous access off."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.log = folder / "mosquitto.log"
        conf = [f"listener {self.port} 127.0.0.1", "max_connections -1",
                f"log_dest file {self.log}",
                # a root-started broker would drop to user "mosquitto", unable to read ours
                f"user {pwd.getpwuid(os.getuid()).pw_name}"]
        if users:
            passwords = folder / "passwords"
            passwords.touch()
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password],
                               check=True, capture_output=True)
            conf += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            conf.append("allow_anonymous true")
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(conf) + "\n", encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"mosquitto exited: {err}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self.process is not None and self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[type[Broker]]:
    started: list[Broker] = []

    class _Started(Broker):
        def __init__(self, users: dict[str, str] | None = None) -> None:
            folder = tmp_path / f"broker{len(started)}"
            folder.mkdir()
            super().__init__(folder, users)
            started.append(self)
            self.start()

    yield _Started
    for broker in started:
        broker.kill()


@pytest.fixture
def broker(broker_factory: type[Broker]) -> Broker:
    return broker_factory()


@pytest.fixture
def full_model() -> dict[str, Any]:
    return FULL_MODEL


def check_report(model: dict[str, Any], params: dict[str, Any]) -> None:
    """Valid for the platform's own check, and within the model's ranges."""
    check_property_set(parse_thing_model(model), params)
    assert set(params) == {p if isinstance(p, str) else p["identifier"]
                           for p in model["properties"]}
    assert isinstance(params["count"], int) and -5 <= params["count"] <= 5
    assert -40 <= params["temperature"] <= 120.5
    assert 0 <= params["ratio"] <= 1
    assert isinstance(params["power"], bool)
    assert isinstance(params["label"], str) and 1 <= len(params["label"]) <= 4
    assert str(params["mode"]) in {"0", "2", "7"}
    assert isinstance(params["seen"], int) and params["seen"] > 1_600_000_000_000
    assert set(params["position"]) == {"x", "tags"} and 10 <= params["position"]["x"] <= 12
    assert 1 <= len(params["position"]["tags"]) <= 2
    assert all(isinstance(t, str) and len(t) <= 3 for t in params["position"]["tags"])
    assert 1 <= len(params["levels"]) <= 5 and all(1 <= v <= 2 for v in params["levels"])


@pytest.fixture(name="check_report")
def check_report_fixture() -> Any:
    return check_report
