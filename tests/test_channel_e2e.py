"""The device channel end to end: devices connect to the platform's private broker node
with their batch credentials, are seen coming and going, and are cut off when disabled."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import aiomqtt
import pytest

from oms_shared import Keys
from oms_shared.testing import wait_until

pytestmark = pytest.mark.e2e

MODEL = {"properties": [{"identifier": "temperature", "dataType": {
    "type": "float", "specs": {"min": -40, "max": 120}}}], "events": ["alarm"]}


@pytest.fixture(scope="module")
def platform(channel_platform):
    return channel_platform


@pytest.fixture(scope="module")
def product(caller):
    return caller.data("/oms/product/add", {"name": "sensor", "code": "channel-e2e",
                                            "thing_model": MODEL})


@pytest.fixture(scope="module")
def fleet(caller, product):
    """Four devices in stock, with their credentials from the CSV download."""
    batch = caller.data("/oms/produce/submit", {"name": "channel", "amount": 4,
                                                "product_id": product["id"],
                                                "batch_no": "CHANNEL-1"})
    caller.data(f"/oms/produce/confirm/{batch['id']}")
    text = caller.post(f"/oms/produce/download/{batch['id']}").text
    return list(csv.DictReader(io.StringIO(text)))


def _connect(port: int, device: dict, *, password: str | None = None,
             client_id: str | None = None) -> aiomqtt.Client:
    pk, dn = device["product_key"], device["device_name"]
    return aiomqtt.Client("127.0.0.1", port, identifier=client_id or f"{pk}.{dn}",
                          username=f"{dn}&{pk}",
                          password=device["device_secret"] if password is None else password,
                          timeout=10)


def _refused(port: int, device: dict, **kwargs: str) -> bool:
    async def attempt() -> bool:
        try:
            async with _connect(port, device, **kwargs):
                return False
        except aiomqtt.MqttError:
            return True

    return asyncio.run(attempt())


def _status(caller, device_id: str) -> str:
    return caller.data(f"/oms/device/detail/{device_id}")["status"]


def test_a_device_connects_is_online_and_offline_when_it_leaves(caller, fleet, mqtt_port):
    device = fleet[0]

    async def visit() -> None:
        async with _connect(mqtt_port, device):
            await asyncio.to_thread(wait_until, lambda: _status(caller, device["device_id"])
                                    == "online", what="the device online")

    asyncio.run(visit())
    detail = caller.data(f"/oms/device/detail/{device['device_id']}")
    assert detail["activated_at"] and detail["last_online_at"]
    wait_until(lambda: _status(caller, device["device_id"]) == "offline",
               what="the device offline after it left")


def test_an_aliyun_signed_device_connects(caller, fleet, mqtt_port):
    device = fleet[1]
    pk, dn, ts = device["product_key"], device["device_name"], str(int(time.time() * 1000))
    content = f"clientId{pk}.{dn}deviceName{dn}productKey{pk}timestamp{ts}"
    sign = hmac.new(device["device_secret"].encode(), content.encode(),
                    hashlib.sha256).hexdigest()
    client_id = f"{pk}.{dn}|securemode=2,signmethod=hmacsha256,timestamp={ts}|"
    assert not _refused(mqtt_port, device, password=sign, client_id=client_id)
    stale = str(int(time.time() * 1000) - 3600_000)
    old = hmac.new(device["device_secret"].encode(),
                   f"clientId{pk}.{dn}deviceName{dn}productKey{pk}timestamp{stale}".encode(),
                   hashlib.sha256).hexdigest()
    assert _refused(mqtt_port, device, password=old,
                    client_id=f"{pk}.{dn}|securemode=2,signmethod=hmacsha256,timestamp={stale}|")


def test_wrong_credentials_and_devices_not_in_stock_are_refused(caller, product, fleet,
                                                                mqtt_port):
    assert _refused(mqtt_port, fleet[2], password="0" * 32)
    assert _refused(mqtt_port, fleet[2], client_id="someone-else")
    pending = caller.data("/oms/produce/submit", {"name": "pending", "amount": 1,
                                                  "product_id": product["id"],
                                                  "batch_no": "CHANNEL-PENDING"})
    text = caller.post(f"/oms/produce/download/{pending['id']}").text
    [waiting] = list(csv.DictReader(io.StringIO(text)))
    assert _refused(mqtt_port, waiting)


def test_a_device_may_not_publish_into_another_devices_topics(fleet, mqtt_port):
    me, other = fleet[2], fleet[3]

    async def trespass() -> bool:
        async with _connect(mqtt_port, me) as client:
            topic = f"/sys/{other['product_key']}/{other['device_name']}/thing/event/" \
                    "property/post"
            try:
                await client.publish(topic, b"{}", qos=1)
                await asyncio.sleep(1)
                await client.publish(f"/sys/{me['product_key']}/{me['device_name']}/x", b"{}",
                                     qos=1)
            except aiomqtt.MqttError:
                return True  # the broker closed the connection
            return False

    assert asyncio.run(trespass())


def test_disabling_cuts_a_device_off_and_enabling_lets_it_back(caller, fleet, mqtt_port):
    device = fleet[3]

    async def stay_until_cut() -> bool:
        async with _connect(mqtt_port, device) as client:
            await asyncio.to_thread(wait_until, lambda: _status(caller, device["device_id"])
                                    == "online", what="online")
            await asyncio.to_thread(caller.data, f"/oms/device/disable/{device['device_id']}")
            try:  # the broker drops the connection within moments: the reader sees it
                async with asyncio.timeout(20):
                    async for _ in client.messages:
                        pass
            except aiomqtt.MqttError:
                return True
            except TimeoutError:
                return False  # still connected after 10 s
            return True  # the message stream ended: the connection is gone

    assert asyncio.run(stay_until_cut())
    assert _status(caller, device["device_id"]) == "disabled"
    assert _refused(mqtt_port, device)
    caller.data(f"/oms/device/enable/{device['device_id']}")
    assert not _refused(mqtt_port, device)


def test_the_simulator_reports_and_the_logs_fill(caller, product, platform, mqtt_port,
                                                 tmp_path):
    """produce -> confirm -> download -> oms-sim: property and event logs, and the
    device detail's latest properties; every acknowledged report stored once."""
    batch = caller.data("/oms/produce/submit", {"name": "sim", "amount": 3,
                                                "product_id": product["id"],
                                                "batch_no": "CHANNEL-SIM"})
    caller.data(f"/oms/produce/confirm/{batch['id']}")
    csv_file = tmp_path / "batch.csv"
    csv_file.write_bytes(caller.post(f"/oms/produce/download/{batch['id']}").content)
    model = tmp_path / "model.json"
    model.write_text(json.dumps(caller.data(f"/oms/product/detail/{product['id']}")))
    acked = tmp_path / "acked.csv"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "oms-sim"), "--csv", str(csv_file), "--port",
         str(mqtt_port), "--model", str(model), "--interval", "0.1", "--messages", "10",
         "--events-every", "5", "--qos", "1", "--acked", str(acked), "--duration", "60"],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    sent = {}
    for row in csv.reader(io.StringIO(acked.read_text())):
        sent.setdefault(row[0], set()).add(row[1])
    devices = list(csv.DictReader(io.StringIO(csv_file.read_text())))
    for device in devices:
        path = f"/oms/device/property/logs/{device['device_id']}"
        wait_until(lambda p=path: caller.data(p, {"page_size": 100})["total"] >= 10,
                   what="the reports stored")
        logs = caller.data(path, {"page_size": 100})
        events = caller.data(f"/oms/device/event/logs/{device['device_id']}",
                             {"page_size": 100})
        stored = [row["message_id"] for row in logs["list"] + events["list"]]
        assert len(stored) == len(set(stored))  # nothing stored twice
        assert set(stored) == sent[device["device_name"]]  # every acknowledged post
        assert all(-40 <= row["value"] <= 120 for row in logs["list"])
        assert events["total"] >= 1 and events["list"][0]["identifier"] == "alarm"
        detail = caller.data(f"/oms/device/detail/{device['device_id']}")
        assert set(detail["properties"]) == {"temperature"}
        assert detail["properties"]["temperature"]["value"] == logs["list"][0]["value"]


def test_disabling_the_product_cuts_its_devices_off(caller, mqtt_port):
    product = caller.data("/oms/product/add", {"name": "lamp", "code": "channel-off"})
    batch = caller.data("/oms/produce/submit", {"name": "off", "amount": 1,
                                                "product_id": product["id"],
                                                "batch_no": "CHANNEL-OFF"})
    caller.data(f"/oms/produce/confirm/{batch['id']}")
    [device] = list(csv.DictReader(io.StringIO(
        caller.post(f"/oms/produce/download/{batch['id']}").text)))

    async def stay_until_cut() -> bool:
        async with _connect(mqtt_port, device) as client:
            await asyncio.to_thread(wait_until, lambda: _status(caller, device["device_id"])
                                    == "online", what="online")
            await asyncio.to_thread(caller.data, f"/oms/product/update/{product['id']}",
                                    {"status": "disable"})
            try:
                async with asyncio.timeout(20):
                    async for _ in client.messages:
                        pass
            except aiomqtt.MqttError:
                return True
            except TimeoutError:
                return False
            return True

    assert asyncio.run(stay_until_cut())
    assert _refused(mqtt_port, device)
    caller.data(f"/oms/product/update/{product['id']}", {"status": "enable"})
    assert not _refused(mqtt_port, device)


def test_presence_survives_a_restart_of_its_worker(platform, caller, fleet, mqtt_port):
    """A device that stays connected stays online; one that leaves while the presence
    worker is down is offline once it is back (the event waited in the broker)."""
    staying, leaving = fleet[0], fleet[1]
    [presence] = [n for n in platform.stack.worker_names() if "presence" in n]

    async def scenario() -> None:
        async with _connect(mqtt_port, staying):
            async with _connect(mqtt_port, leaving):
                for device in (staying, leaving):
                    await asyncio.to_thread(
                        wait_until, lambda d=device: _status(caller, d["device_id"]) == "online",
                        what="online")
                await asyncio.to_thread(platform.stack.stop_child, presence)
            await asyncio.sleep(0.5)  # the leaving device's disconnect waits in the queue
            assert _status(caller, leaving["device_id"]) == "online"  # nobody applied it yet
            # from this (the main) thread: a child gets SIGTERM when the thread that
            # started it ends (PR_SET_PDEATHSIG), and to_thread's threads end with the loop
            platform.stack.start_worker(presence)
            await asyncio.to_thread(
                wait_until, lambda: _status(caller, leaving["device_id"]) == "offline",
                timeout=20, what="the disconnect applied after the restart")
            assert _status(caller, staying["device_id"]) == "online"

    asyncio.run(scenario())


def test_presence_survives_a_platform_restart_that_empties_redis(platform, caller, fleet,
                                                                 mqtt_port, redis_client):
    """The platform's workers restart while the broker keeps running, and the connection
    map in Redis is gone (``oms-stack``'s Redis keeps nothing across a restart); a device
    leaves meanwhile. Back up: the device that stayed is online, the one that left is
    offline (its ``connection.closed`` finds no map entry: the reconcile sees it is not
    connected), and the one that stayed is still seen leaving later (the reconcile gave
    it its map entries back)."""
    staying, leaving = fleet[0], fleet[1]
    workers = list(platform.stack.worker_names())
    keys = Keys(platform.stack.child_env["OMS_REDIS__PREFIX"])

    def stop_all() -> None:
        for name in workers:
            platform.stack.stop_child(name)
        redis_client.delete(keys.channel_connections(), keys.channel_device_connection())

    def start_all() -> None:  # in the main thread (see the test above)
        for name in workers:
            platform.stack.start_worker(name)

    async def scenario() -> None:
        async with _connect(mqtt_port, staying):
            async with _connect(mqtt_port, leaving):
                for device in (staying, leaving):
                    await asyncio.to_thread(
                        wait_until, lambda d=device: _status(caller, d["device_id"]) == "online",
                        what="online")
                await asyncio.to_thread(stop_all)
            await asyncio.sleep(0.5)
            assert _status(caller, leaving["device_id"]) == "online"  # nobody saw it leave
            start_all()
            await asyncio.to_thread(
                wait_until, lambda: _status(caller, leaving["device_id"]) == "offline",
                timeout=40, what="the device that left offline after the restart")
            assert _status(caller, staying["device_id"]) == "online"
        await asyncio.to_thread(
            wait_until, lambda: _status(caller, staying["device_id"]) == "offline",
            timeout=20, what="the device that stayed seen leaving after the restart")

    asyncio.run(scenario())
