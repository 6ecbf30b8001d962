"""Commands end to end: a property set or service call through the gateway reaches a
real MQTT device on the platform's broker, its answer comes back to the caller, and the
command log shows what happened, late answers included."""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import aiomqtt
import pytest

from oms_shared.testing import wait_until

pytestmark = pytest.mark.e2e

MODEL = {
    "properties": [
        {"identifier": "temperature", "accessMode": "rw",
         "dataType": {"type": "float", "specs": {"min": -40, "max": 120}}},
        {"identifier": "serial", "accessMode": "r", "dataType": {"type": "text"}},
    ],
    "events": ["alarm"],
    "services": [
        {"identifier": "reboot", "callType": "sync",
         "inputData": [{"identifier": "delay", "dataType": {"type": "int",
                                                             "specs": {"min": 0, "max": 60}}}],
         "outputData": [{"identifier": "ok", "dataType": {"type": "bool"}}]},
        {"identifier": "upgrade", "callType": "async", "inputData": [], "outputData": []},
    ],
}


@pytest.fixture(scope="module")
def platform(channel_platform):
    return channel_platform


@pytest.fixture(scope="module")
def product(caller):
    return caller.data("/oms/product/add", {"name": "thermostat", "code": "commands-e2e",
                                            "thing_model": MODEL})


@pytest.fixture(scope="module")
def fleet(caller, product) -> list[dict[str, str]]:
    batch = caller.data("/oms/produce/submit", {"name": "commands", "amount": 4,
                                                "product_id": product["id"],
                                                "batch_no": "COMMANDS-1"})
    caller.data(f"/oms/produce/confirm/{batch['id']}")
    return list(csv.DictReader(io.StringIO(
        caller.post(f"/oms/produce/download/{batch['id']}").text)))


@pytest.fixture(scope="module")
def owner(caller, fleet) -> str:
    user = caller.data("/oms/user/add", {"username": "13500000001", "password": "s3cret-pw"})
    for device in fleet:
        caller.data("/oms/user/bind", {"user_id": user["id"], "device_id": device["device_id"],
                                       "role": "owner"})
    return user["id"]


class Device:
    """A real MQTT device in a thread of its own that answers commands as ``mode`` says:
    ``answer`` (code 200), ``fail`` (code 500), ``silent`` (no answer; the request is kept
    in ``held`` so a test can answer it late)."""

    def __init__(self, port: int, credentials: dict[str, str]) -> None:
        self.port = port
        self.credentials = credentials
        self.prefix = f"/sys/{credentials['product_key']}/{credentials['device_name']}"
        self.mode = "answer"
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.held: list[tuple[str, dict[str, Any]]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._client: aiomqtt.Client | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete,
                                        args=(self._run(),), daemon=True)

    def __enter__(self) -> Device:
        self._thread.start()
        assert self._ready.wait(15), "the device did not connect"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)  # type: ignore[union-attr]
        self._thread.join(10)
        self._loop.close()

    def answer_late(self) -> None:
        """Answer every held request now."""
        held, self.held = self.held, []
        for topic, body in held:
            asyncio.run_coroutine_threadsafe(self._reply(topic, body, 200), self._loop).result(5)

    async def _reply(self, topic: str, body: dict[str, Any], code: int) -> None:
        data = {"ok": True} if topic.endswith("/reboot") else {}
        await self._client.publish(f"{topic}_reply", json.dumps(  # type: ignore[union-attr]
            {"id": body["id"], "code": code, "data": data}), qos=1)

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        c = self.credentials
        async with aiomqtt.Client("127.0.0.1", self.port,
                                  identifier=f"{c['product_key']}.{c['device_name']}",
                                  username=f"{c['device_name']}&{c['product_key']}",
                                  password=c["device_secret"], timeout=10) as client:
            self._client = client
            await client.subscribe(f"{self.prefix}/thing/service/#", qos=1)
            self._ready.set()
            listener = asyncio.create_task(self._listen(client))
            await self._stop.wait()
            listener.cancel()

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = message.topic.value
            if topic.endswith("_reply"):
                continue
            body = json.loads(message.payload)
            self.received.append((topic, body))
            if self.mode == "silent":
                self.held.append((topic, body))
            else:
                await self._reply(topic, body, 200 if self.mode == "answer" else 500)


@pytest.fixture
def device(caller, fleet, mqtt_port) -> Iterator[Device]:
    with Device(mqtt_port, fleet[0]) as connected:
        wait_until(lambda: caller.data(f"/oms/device/detail/{fleet[0]['device_id']}")["status"]
                   == "online", what="the device online")
        yield connected
    wait_until(lambda: caller.data(f"/oms/device/detail/{fleet[0]['device_id']}")["status"]
               == "offline", what="the device offline")


def _error(response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    return body


def _log(caller, device_id: str, **query: Any) -> list[dict[str, Any]]:
    return caller.data(f"/oms/device/command/logs/{device_id}", query)["list"]


def test_a_property_set_reaches_the_device_and_its_answer_the_caller(caller, fleet, owner,
                                                                    device):
    device_id = fleet[0]["device_id"]
    result = caller.data("/oms/device/property/set", {"user_id": owner, "device_id": device_id,
                                                      "params": {"temperature": 21.5}})
    assert result["code"] == 200 and len(result["message_id"]) == 32
    topic, body = device.received[-1]
    assert topic.endswith("/thing/service/property/set")
    assert body["id"] == result["message_id"] and body["params"] == {"temperature": 21.5}
    [entry] = _log(caller, device_id, page_size=1)
    assert entry["message_id"] == result["message_id"]
    assert entry["status"] == "succeeded" and entry["code"] == 200
    assert entry["kind"] == "property_set" and entry["user_id"] == owner
    assert entry["app_id"] and entry["sent_at"] and entry["replied_at"]
    # the device is the source of truth: nothing changes until it reports
    assert "temperature" not in caller.data(f"/oms/device/detail/{device_id}")["properties"]


def test_a_sync_service_answers_with_the_devices_data(caller, fleet, owner, device):
    result = caller.data("/oms/device/service/invoke", {
        "user_id": owner, "device_id": fleet[0]["device_id"], "service": "reboot",
        "params": {"delay": 3}})
    assert result["code"] == 200 and result["data"] == {"ok": True}


def test_a_failing_device_answer_is_passed_on_and_recorded(caller, fleet, owner, device):
    device.mode = "fail"
    result = caller.data("/oms/device/property/set", {"user_id": owner,
                                                      "device_id": fleet[0]["device_id"],
                                                      "params": {"temperature": 1}})
    assert result["code"] == 500
    [entry] = _log(caller, fleet[0]["device_id"], page_size=1)
    assert entry["status"] == "failed" and entry["code"] == 500


def test_no_answer_is_a_timeout_and_a_late_answer_is_still_recorded(caller, fleet, owner,
                                                                   device):
    device.mode = "silent"
    response = caller.post("/oms/device/property/set", {
        "user_id": owner, "device_id": fleet[0]["device_id"], "params": {"temperature": 2},
        "timeout_ms": 500})
    body = _error(response, 504, 50400)
    message_id = body["data"]["message_id"]
    [entry] = _log(caller, fleet[0]["device_id"], page_size=1)
    assert entry["message_id"] == message_id and entry["status"] == "timed_out"
    device.answer_late()
    wait_until(lambda: _log(caller, fleet[0]["device_id"], page_size=1)[0]["status"]
               == "succeeded", what="the late answer recorded")


def test_an_async_service_answers_at_once_and_its_reply_lands_in_the_log(caller, fleet, owner,
                                                                         device):
    device.mode = "silent"
    result = caller.data("/oms/device/service/invoke", {
        "user_id": owner, "device_id": fleet[0]["device_id"], "service": "upgrade"})
    assert set(result) == {"message_id"} or result.get("code") is None
    [entry] = _log(caller, fleet[0]["device_id"], page_size=1)
    assert entry["status"] == "sent" and entry["call_type"] == "async"
    wait_until(lambda: device.held, what="the device got the call")
    device.answer_late()
    wait_until(lambda: _log(caller, fleet[0]["device_id"], page_size=1)[0]["status"]
               == "succeeded", what="the async reply recorded")


def test_checks_come_in_order_each_with_its_code(platform, caller, fleet, owner, device):
    dev = fleet[0]["device_id"]
    stranger = caller.data("/oms/user/add", {"username": "13500000002", "password": "pw-12345"})
    base = {"user_id": owner, "device_id": dev, "params": {"temperature": 20}}
    _error(caller.post("/oms/device/property/set", {**base, "params": "x"}), 400, 40001)
    _error(caller.post("/oms/device/property/set", {**base, "timeout_ms": 60000}), 400, 40001)
    _error(caller.post("/oms/device/property/set", {**base, "device_id": "nope"}), 404, 40401)
    other = platform.new_caller("commands-other-tenant")
    _error(other.post("/oms/device/property/set", base), 404, 40401)
    _error(caller.post("/oms/device/property/set", {**base, "user_id": stranger["id"]}),
           403, 40300)
    _error(caller.post("/oms/device/property/set", {**base, "device_id": fleet[1]["device_id"]}),
           409, 40910)  # bound, enabled, never connected
    bad = _error(caller.post("/oms/device/property/set", {**base, "params": {"temperature": 500}}),
                 400, 40001)
    assert bad["data"]["errors"][0]["field"].startswith("params.temperature")
    readonly = _error(caller.post("/oms/device/property/set",
                                  {**base, "params": {"serial": "x"}}), 400, 40001)
    assert readonly["data"]["errors"][0]["field"].startswith("params.serial")
    unknown = _error(caller.post("/oms/device/service/invoke", {**base, "service": "fly"}),
                     400, 40001)
    assert "service" in unknown["data"]["errors"][0]["field"]
    caller.data(f"/oms/device/disable/{fleet[1]['device_id']}")
    _error(caller.post("/oms/device/property/set", {**base, "device_id": fleet[1]["device_id"]}),
           409, 40901)
    caller.data(f"/oms/device/enable/{fleet[1]['device_id']}")
    _error(other.post(f"/oms/device/command/logs/{dev}", {}), 404, 40401)
    assert not [c for c in _log(caller, dev, page_size=100) if c["user_id"] == stranger["id"]]


def test_many_waiting_commands_do_not_starve_other_requests(caller, fleet, owner, device):
    """More waits than the service has threads (1 worker x 4 threads here): while 24 of
    them wait on a silent device, the command log still answers."""
    device.mode = "silent"
    body = {"user_id": owner, "device_id": fleet[0]["device_id"], "params": {"temperature": 3},
            "timeout_ms": 4000}
    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        waits = [pool.submit(caller.post, "/oms/device/property/set", body) for _ in range(24)]
        wait_until(lambda: len(device.held) >= 24, what="every command at the device")
        page = caller.data(f"/oms/device/command/logs/{fleet[0]['device_id']}",
                           {"status": "sent", "page_size": 50})
        assert not any(w.done() for w in waits), "the log answered only after the waits"
        assert page["total"] >= 24
        assert all(w.result().status_code == 504 for w in waits)


def test_a_group_command_reaches_online_devices_and_records_the_rest(caller, fleet, owner,
                                                                     device):
    group = caller.data("/oms/group/add", {"name": "commands-e2e", "owner_id": owner})
    ids = [d["device_id"] for d in fleet[:3]]
    caller.data(f"/oms/group/device/add/{group['id']}", {"device_ids": ids})
    job = caller.data("/oms/group/command", {"group_id": group["id"], "user_id": owner,
                                             "kind": "property_set",
                                             "params": {"temperature": 30}, "rate": 10})
    assert job["total"] == 3

    def finished() -> dict[str, Any] | None:
        detail = caller.data(f"/oms/group/command/detail/{job['job_id']}", {"page_size": 10})
        return detail if detail["status"] == "done" else None

    detail = wait_until(finished, timeout=20, what="the job done")
    assert detail["counts"] == {"succeeded": 1, "undeliverable": 2}
    by_device = {r["device_id"]: r["status"] for r in detail["list"]}
    assert by_device[fleet[0]["device_id"]] == "succeeded"
    bad = _error(caller.post("/oms/group/command", {
        "group_id": group["id"], "user_id": owner, "kind": "service", "service": "fly"}),
        400, 40001)
    assert bad["data"]["errors"]
    _error(caller.post("/oms/group/command/detail/not-a-job", {}), 404, 40401)


def test_a_job_can_be_cancelled(caller, fleet, owner):
    group = caller.data("/oms/group/add", {"name": "commands-cancel", "owner_id": owner})
    caller.data(f"/oms/group/device/add/{group['id']}",
                {"device_ids": [d["device_id"] for d in fleet]})
    job = caller.data("/oms/group/command", {"group_id": group["id"], "user_id": owner,
                                             "kind": "service", "service": "upgrade",
                                             "rate": 1})
    time.sleep(0.5)
    detail = caller.data(f"/oms/group/command/cancel/{job['job_id']}", {})
    assert detail["status"] == "cancelled"
    assert detail["counts"].get("cancelled", 0) >= 2
    assert sum(detail["counts"].values()) == 4
