"""Production at scale: a 100,000-device batch submitted, confirmed and downloaded
through the gateway, on PostgreSQL and on SQLite, against a floor measured in the
same run: a bare SQLAlchemy Core bulk insert of the same 100,000 rows into the
same table.

Also the device service's memory while it streams the CSV, for a 10,000 and a
100,000-device batch (its worker's resident set, sampled every 5 ms; the growth
over the level before the download starts).

    python bench/production.py [--amount 100000] [--backends postgresql,sqlite]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, delete, insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from device_service.models import Batch, Device, DeviceBase  # noqa: E402
from oms_gateway.stack import Stack, free_port, free_ports  # noqa: E402
from oms_shared import SERVICES, Keyring, attach_keyring, utcnow  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def floor_seconds(url: str, amount: int) -> float:
    """The same rows, prepared beforehand, in one Core executemany (the secrets sealed
    by the column type as they are inserted, as in the submit)."""
    engine = create_engine(url)
    attach_keyring(engine, Keyring({"floor": secrets.token_bytes(32)}, "floor"))
    DeviceBase.metadata.create_all(engine)
    now = utcnow()
    with engine.begin() as conn:
        batch_id = conn.execute(insert(Batch.__table__).values(
            tenant="floor", name="floor", batch_no=f"floor-{secrets.token_hex(4)}",
            product_id=1, product_key="pk", amount=amount, remark="", status="pending",
            created_at=now, updated_at=now)).inserted_primary_key[0]
    rows = [{"id": str(uuid.uuid4()), "tenant": "floor", "product_id": 1, "product_key": "pk",
             "batch_id": batch_id, "batch_no": "floor", "seq": i,
             "name": secrets.token_hex(8), "device_name": secrets.token_hex(8),
             "device_secret": secrets.token_hex(16), "status": "produced", "remark": "",
             "created_at": now, "updated_at": now} for i in range(1, amount + 1)]
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(Device.__table__), rows)
    elapsed = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(delete(Device.__table__).where(Device.batch_id == batch_id))
        conn.execute(delete(Batch.__table__).where(Batch.id == batch_id))
    engine.dispose()
    return elapsed


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def download_growth(caller, batch_id: int, worker: int) -> tuple[float, int, int]:
    """Seconds, lines, and the worker's RSS growth (KiB) while the CSV streams."""
    baseline = rss_kib(worker)
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_kib(worker))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    response = caller.post(f"/oms/produce/download/{batch_id}", stream=True)
    lines = sum(chunk.count(b"\n") for chunk in response.iter_content(65536))
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    return elapsed, lines, peak - baseline


def run_backend(backend: str, amount: int) -> dict:
    from conftest import Caller

    data_dir = Path(tempfile.mkdtemp(prefix=f"oms-bench-{backend}-"))
    env = {"OMS_LOG_LEVEL": "WARNING"}
    dbnames: list[str] = []
    if backend == "postgresql":  # a database per service, as in compose (tables may share names)
        run = secrets.token_hex(4)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for spec in SERVICES:
                if spec.database:
                    dbnames.append(f"oms_bench_{run}_{spec.name}")
                    conn.execute(f'CREATE DATABASE "{dbnames[-1]}"')
                    env[f"OMS_{spec.name.upper()}__DATABASE_URL"] = (
                        f"postgresql+psycopg://postgres@127.0.0.1:5432/{dbnames[-1]}")
        url = env["OMS_DEVICE__DATABASE_URL"]
    else:
        url = f"sqlite:///{data_dir / 'device.db'}"
    stack = Stack(data_dir=data_dir, listen=f"127.0.0.1:{free_port()}",
                  service_ports=free_ports(),
                  env=env, workers=1, threads=4, log_to_files=True, channel=False)
    stack.start()
    try:
        caller = Caller(stack.url, stack.credentials["app_id"],
                        stack.credentials["app_secret"]).sign_in()
        product = caller.data("/oms/product/add", {"name": "bench", "code": "bench"})
        master = next(c for c in stack.children if c.name.startswith("device-")).process.pid
        worker = next(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                      and (p / "stat").exists()
                      and int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master)
        results: dict = {"backend": backend}
        small = caller.data("/oms/produce/submit", {"name": "small", "amount": amount // 10,
                                                    "batch_no": "SMALL",
                                                    "product_id": product["id"]})
        _, small_lines, small_growth = download_growth(caller, small["id"], worker)
        started = time.perf_counter()
        batch = caller.data("/oms/produce/submit", {"name": "big", "amount": amount,
                                                    "batch_no": "BIG",
                                                    "product_id": product["id"]})
        results["submit_s"] = time.perf_counter() - started
        started = time.perf_counter()
        caller.data(f"/oms/produce/confirm/{batch['id']}", {})
        results["confirm_s"] = time.perf_counter() - started
        seconds, lines, growth = download_growth(caller, batch["id"], worker)
        results.update(download_s=seconds, lines=lines, small_lines=small_lines,
                       rss_growth_small_kib=small_growth, rss_growth_big_kib=growth)
    finally:
        stack.stop()
    device_url = url if backend == "postgresql" else f"sqlite:///{data_dir / 'floor.db'}"
    results["floor_s"] = floor_seconds(device_url, amount)
    results["ratio"] = results["submit_s"] / results["floor_s"]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for dbname in dbnames:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--amount", type=int, default=100_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    args = parser.parse_args()
    rows = [run_backend(b, args.amount) for b in args.backends.split(",")]
    small = args.amount // 10
    print(f"| backend | floor: Core insert of {args.amount} rows (s) | submit via gateway (s) "
          f"| submit / floor | confirm (s) | download (s) | CSV lines | RSS growth, "
          f"{small} / {args.amount} devices (MiB) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['floor_s']:.2f} | {r['submit_s']:.2f} | "
              f"{r['ratio']:.2f} | {r['confirm_s']:.2f} | {r['download_s']:.2f} | "
              f"{r['lines']} | {r['rss_growth_small_kib'] / 1024:.1f} / "
              f"{r['rss_growth_big_kib'] / 1024:.1f} |")


if __name__ == "__main__":
    main()
