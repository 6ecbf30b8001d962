"""Secrets at rest on the running platform: device and product secrets the API hands out
(add, detail, the credentials CSV) are nowhere in the databases' rows, read with plain
SQL; the keys ``oms-stack`` made are private to the platform's user; ``secrets-rotate``
finds every value under the current key already."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid

import pytest

pytestmark = pytest.mark.e2e


def _rows(path, sql: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute(sql)]


def test_no_secret_the_api_hands_out_is_stored_in_the_clear(platform, caller):
    product = caller.data("/oms/product/add", {"name": "vault", "code": f"v-{uuid.uuid4().hex}"})
    product_secret = caller.data(f"/oms/product/detail/{product['id']}")["product_secret"]
    batch = caller.data("/oms/produce/submit", {"name": "vault", "amount": 50,
                                                "product_id": product["id"],
                                                "batch_no": f"V-{uuid.uuid4().hex[:8]}"})
    csv_text = caller.post(f"/oms/produce/download/{batch['id']}").text
    device_secrets = [line.split(",")[3] for line in csv_text.splitlines()[1:]]
    assert len(device_secrets) == 50 and product_secret
    data_dir = platform.stack.data_dir
    stored_devices = _rows(data_dir / "device.db", "SELECT device_secret FROM devices")
    stored_products = _rows(data_dir / "product.db", "SELECT product_secret FROM products")
    dump = "\n".join(stored_devices + stored_products)
    assert product_secret not in dump
    assert not any(secret in dump for secret in device_secrets)
    current = platform.stack.child_env["OMS_SECRETS__CURRENT"]
    assert all(v.startswith(f"v1:{current}:") for v in stored_devices + stored_products)
    keys = data_dir / "secrets.keys"
    assert keys.stat().st_mode & 0o077 == 0
    for module in ("device_service.app", "product_service.app"):
        rotated = subprocess.run([sys.executable, "-m", "flask", "--app", module,
                                  "secrets-rotate"], env=platform.stack.child_env,
                                 capture_output=True, text=True, check=True)
        assert "0 resealed, 0 plaintext sealed" in rotated.stdout, rotated.stdout
