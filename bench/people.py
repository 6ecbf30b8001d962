"""Users and groups at scale, through the gateway, on PostgreSQL and SQLite.

A user bound to 10,000 devices and a group holding the same 10,000 devices; the first
and the last page (page_size 100) of ``/oms/user/device/{id}`` and
``/oms/group/device/{id}``, each the median of several reads; the last page against
the first page of the same list measured in the same run is the figure (aim: at most
2). Adding the 10,000 devices to the group in chunks of 1,000 (time per chunk). And
the seam the command endpoints use, ``oms.bindings.role(...)``: p50 and p99 of a
cached answer and of a miss (which asks the user service), in microseconds.

    python bench/people.py [--devices 10000] [--backends postgresql,sqlite]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import Caller  # noqa: E402
from oms_gateway.databases import service_databases  # noqa: E402
from oms_gateway.stack import Stack, free_port, free_ports  # noqa: E402
from oms_shared import (  # noqa: E402
    BindingCache,
    Keys,
    ServiceClient,
    connect_redis,
    load_settings,
)

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PAGE = 100


#: The per-app quota is checked on every request (its cost is measured) but never binds:
#: one app here sends thousands of requests a second.
QUOTA = {"OMS_QUOTA__RATE_PER_SECOND": "1000000", "OMS_QUOTA__BURST": "1000000"}


def _median_ms(call, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _pages(caller: Caller, path: str, total: int) -> tuple[float, float]:
    last = (total + PAGE - 1) // PAGE
    for page in (1, last):  # warm both
        caller.data(path, {"page": page, "page_size": PAGE})
    first = _median_ms(lambda: caller.data(path, {"page": 1, "page_size": PAGE}))
    deep = _median_ms(lambda: caller.data(path, {"page": last, "page_size": PAGE}))
    return first, deep


def _seam(stack: Stack, caller: Caller, user_id: str, device_ids: list[str]) -> dict:
    """role() as the device service calls it: inside a request with the caller's token."""
    settings = load_settings(environ=stack.child_env)
    client = connect_redis(settings)
    cache = BindingCache(client, Keys(settings.redis.prefix), ServiceClient(settings))
    app = Flask("bench")
    hits, misses = [], []
    with app.test_request_context(headers={"Token": caller.token or ""}):
        for device_id in device_ids[:500]:
            started = time.perf_counter()
            assert cache.role(tenant="default", user_id=user_id, device_id=device_id)
            misses.append((time.perf_counter() - started) * 1e6)
        for device_id in device_ids[:500] * 4:
            started = time.perf_counter()
            cache.role(tenant="default", user_id=user_id, device_id=device_id)
            hits.append((time.perf_counter() - started) * 1e6)
    client.close()

    def pct(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1]

    return {"hit_p50": pct(hits, 50), "hit_p99": pct(hits, 99),
            "miss_p50": pct(misses, 50), "miss_p99": pct(misses, 99)}


def run_backend(backend: str, amount: int) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix="oms-bench-people-"))
    env = {"OMS_LOG_LEVEL": "WARNING", **QUOTA}
    databases = contextlib.ExitStack()
    if backend == "postgresql":  # a database per service, as in production
        env.update(databases.enter_context(service_databases(PG_ADMIN, "bench")))
    stack = Stack(data_dir=data_dir, listen=f"127.0.0.1:{free_port()}",
                  service_ports=free_ports(), env=env, workers=2, threads=4,
                  log_to_files=True, channel=False)
    stack.start()
    results: dict = {"backend": backend}
    try:
        caller = Caller(stack.url, stack.credentials["app_id"],
                        stack.credentials["app_secret"]).sign_in()
        product = caller.data("/oms/product/add", {"name": "bench", "code": "people"})
        batch = caller.data("/oms/produce/submit", {"name": "people", "amount": amount,
                                                    "batch_no": "PEOPLE",
                                                    "product_id": product["id"]})
        caller.data(f"/oms/produce/confirm/{batch['id']}")
        device_ids = [d["id"] for page in range(1, amount // 500 + 1)
                      for d in caller.data(f"/oms/produce/device/{batch['id']}",
                                           {"page": page, "page_size": 500})["list"]]
        user = caller.data("/oms/user/add", {"username": "bench", "password": "bench-pass"})
        group = caller.data("/oms/group/add", {"name": "bench", "owner_id": user["id"]})

        chunks = []
        for start in range(0, amount, 1000):
            started = time.perf_counter()
            added = caller.data(f"/oms/group/device/add/{group['id']}",
                                {"device_ids": device_ids[start:start + 1000]})
            chunks.append(time.perf_counter() - started)
            assert len(added["added"]) == len(device_ids[start:start + 1000])
        results["group_add_per_1000_s"] = statistics.median(chunks)

        def bind(device_id: str) -> None:
            caller.data("/oms/user/bind", {"user_id": user["id"], "device_id": device_id})

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(bind, device_ids))
        results["binds_per_s"] = amount / (time.perf_counter() - started)

        results["user_first_ms"], results["user_last_ms"] = _pages(
            caller, f"/oms/user/device/{user['id']}", amount)
        results["group_first_ms"], results["group_last_ms"] = _pages(
            caller, f"/oms/group/device/{group['id']}", amount)
        results.update(_seam(stack, caller, user["id"], device_ids))
    finally:
        stack.stop()
        databases.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    args = parser.parse_args()
    rows = [run_backend(b, args.devices) for b in args.backends.split(",")]
    print("| backend | user devices: first / last page (ms) | last / first | group devices: "
          "first / last page (ms) | last / first | group add per 1,000 (s) | binds/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['user_first_ms']:.1f} / {r['user_last_ms']:.1f} | "
              f"{r['user_last_ms'] / r['user_first_ms']:.2f} | {r['group_first_ms']:.1f} / "
              f"{r['group_last_ms']:.1f} | {r['group_last_ms'] / r['group_first_ms']:.2f} | "
              f"{r['group_add_per_1000_s']:.2f} | {r['binds_per_s']:.0f} |")
    print()
    print("| backend | role(): cached p50 / p99 (µs) | miss, asking the user service: "
          "p50 / p99 (µs) |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['backend']} | {r['hit_p50']:.0f} / {r['hit_p99']:.0f} | "
              f"{r['miss_p50']:.0f} / {r['miss_p99']:.0f} |")


if __name__ == "__main__":
    main()
