"""Device credentials: the batch CSV and the MQTT connect parameters they give."""

from __future__ import annotations

import csv
import hashlib
import hmac
import time
from dataclasses import dataclass
from pathlib import Path

CSV_HEADER = ("device_id", "product_key", "device_name", "device_secret", "batch_no")


@dataclass(frozen=True)
class Credentials:
    device_id: str
    product_key: str
    device_name: str
    device_secret: str
    batch_no: str = ""

    @property
    def topic_prefix(self) -> str:
        return f"/sys/{self.product_key}/{self.device_name}"


@dataclass(frozen=True)
class ConnectParams:
    client_id: str
    username: str
    password: str


def read_csv(path: str | Path, count: int | None = None) -> list[Credentials]:
    """The first ``count`` devices (all without it) of a CSV from ``/oms/produce/download``."""
    devices: list[Credentials] = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_HEADER[1:4] if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: not a batch CSV (missing {', '.join(missing)})")
        for row in reader:
            if count is not None and len(devices) >= count:
                break
            devices.append(Credentials(
                device_id=row.get("device_id") or "", product_key=row["product_key"],
                device_name=row["device_name"], device_secret=row["device_secret"],
                batch_no=row.get("batch_no") or ""))
    return devices


def aliyun_password(device: Credentials, timestamp_ms: int) -> str:
    """hex HMAC-SHA256(secret, "clientId{pk}.{dn}deviceName{dn}productKey{pk}timestamp{ms}")."""
    pk, dn = device.product_key, device.device_name
    content = f"clientId{pk}.{dn}deviceName{dn}productKey{pk}timestamp{timestamp_ms}"
    return hmac.new(device.device_secret.encode(), content.encode(), hashlib.sha256).hexdigest()


def connect_params(device: Credentials, *, aliyun: bool = False,
                   timestamp_ms: int | None = None) -> ConnectParams:
    """Client id, username and password: plain (the secret) or Aliyun-signed."""
    pk, dn = device.product_key, device.device_name
    username = f"{dn}&{pk}"
    if not aliyun:
        return ConnectParams(f"{pk}.{dn}", username, device.device_secret)
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    client_id = f"{pk}.{dn}|securemode=2,signmethod=hmacsha256,timestamp={ts}|"
    return ConnectParams(client_id, username, aliyun_password(device, ts))
