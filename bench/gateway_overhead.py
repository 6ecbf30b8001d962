"""Gateway overhead: an authenticated endpoint through nginx vs a bare Flask endpoint.

Both run under the same gunicorn settings (``oms_shared.gunicorn_conf``: the
same workers, threads and worker class). The bare endpoint is the floor; the
ratio is (requests/s through the gateway) / (requests/s of the floor), both
measured with wrk in this run, alternating, best of the rounds. For reference it
also measures the bare endpoint behind an nginx that does nothing but proxy: the
cost of the hop alone on the same two cores.

    python bench/gateway_overhead.py [--seconds 10] [--connections 32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from oms_gateway.stack import Stack, child_count, free_port, free_ports  # noqa: E402

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
%s
"""


#: The per-app quota is checked on every request (its cost is measured) but never binds:
#: one app here sends thousands of requests a second.
QUOTA = {"OMS_QUOTA__RATE_PER_SECOND": "1000000", "OMS_QUOTA__BURST": "1000000"}


def wrk(url: str, headers: dict[str, str], seconds: int, connections: int) -> dict[str, float]:
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % lines)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", script.name, url], capture_output=True, text=True, check=True)
    os.unlink(script.name)
    if os.environ.get("BENCH_DEBUG"):
        print(out.stdout)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out.stdout)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)

    def ms(match: re.Match | None) -> float:
        if match is None:
            return float("nan")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        return float(match.group(1)) * scale

    return {"rps": rps, "p50_ms": ms(p50), "p99_ms": ms(p99),
            "non_2xx": int(errors.group(1)) if errors else 0}


def start_bare(port: int, workers: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "OMS_BIND": f"127.0.0.1:{port}", "OMS_WORKERS": str(workers),
           "OMS_THREADS": str(threads), "PYTHONPATH": str(ROOT / "bench")}
    log = Path(tempfile.gettempdir()) / f"oms-bench-bare-{port}.log"
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c",
                                "python:oms_shared.gunicorn_conf", "bare_app:create_app()"],
                               env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            requests.post(f"http://127.0.0.1:{port}/bare", timeout=1)
            if child_count(process.pid) >= workers:
                return process
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("bare app did not start")


PLAIN_PROXY = """
user {user};
worker_processes 2;
pid {run}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {run}; proxy_temp_path {run};
    upstream bare {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location / {{ proxy_pass http://bare; }}
    }}
}}
"""


def start_plain_proxy(upstream: int) -> tuple[subprocess.Popen, int]:
    """The bare endpoint behind an nginx that only proxies: the hop's own cost."""
    run = Path(tempfile.mkdtemp(prefix="oms-bench-nginx-"))
    port = free_port()
    conf = run / "nginx.conf"
    conf.write_text(PLAIN_PROXY.format(user="root" if os.geteuid() == 0 else "nobody",
                                       run=run, upstream=upstream, port=port))
    nginx = subprocess.Popen(["nginx", "-p", str(run), "-c", str(conf), "-e", "stderr",
                              "-g", "daemon off;"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            requests.post(f"http://127.0.0.1:{port}/bare", timeout=1)
            return nginx, port
        except requests.ConnectionError:
            time.sleep(0.1)
    nginx.kill()
    raise RuntimeError("plain proxy did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    from conftest import Caller  # the tests' signing client

    data_dir = Path(tempfile.mkdtemp(prefix="oms-bench-"))
    stack = Stack(data_dir=data_dir, listen=f"127.0.0.1:{free_port()}",
                  service_ports=free_ports(),
                  env={"OMS_LOG_LEVEL": "WARNING", **QUOTA}, workers=args.workers,
                  threads=args.threads, log_to_files=True, channel=False)
    bare_port = free_port()
    stack.start()
    bare = start_bare(bare_port, args.workers, args.threads)
    proxy, proxy_port = start_plain_proxy(bare_port)
    try:
        creds = stack.credentials
        caller = Caller(stack.url, creds["app_id"], creds["app_secret"]).sign_in()
        gateway_url = f"{stack.url}/pms/system/setting/info"
        assert caller.post("/pms/system/setting/info").json()["code"] == 0
        # Warm up both targets once gunicorn's every worker has booted: a worker still
        # importing when wrk connects would leave all keepalive connections to the other.
        time.sleep(2)
        wrk(f"http://127.0.0.1:{bare_port}/bare", {}, 1, args.connections)
        wrk(gateway_url, {"Token": caller.token}, 1, args.connections)
        results: dict[str, list[dict[str, float]]] = {"bare": [], "proxied": [], "gateway": []}
        for _ in range(args.rounds):
            results["bare"].append(wrk(f"http://127.0.0.1:{bare_port}/bare", {},
                                       args.seconds, args.connections))
            results["proxied"].append(wrk(f"http://127.0.0.1:{proxy_port}/bare", {},
                                          args.seconds, args.connections))
            results["gateway"].append(wrk(gateway_url, {"Token": caller.token},
                                          args.seconds, args.connections))
    finally:
        proxy.terminate()
        proxy.wait()
        bare.terminate()
        bare.wait()
        stack.stop()

    best = {k: max(v, key=lambda r: r["rps"]) for k, v in results.items()}
    ratio = best["gateway"]["rps"] / best["bare"]["rps"]
    print(f"wrk -t2 -c{args.connections} -d{args.seconds}s, best of {args.rounds} rounds; "
          f"gunicorn gthread workers={args.workers} threads={args.threads}")
    print("| target | req/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---|---|---|")
    print("| bare Flask JSON endpoint (floor) | {rps:.0f} | {p50_ms:.2f} | {p99_ms:.2f} | "
          "{non_2xx} |".format(**best["bare"]))
    print("| the same bare endpoint behind a plain nginx proxy (reference) | {rps:.0f} | "
          "{p50_ms:.2f} | {p99_ms:.2f} | {non_2xx} |".format(**best["proxied"]))
    print("| /pms/system/setting/info via nginx, token checked | {rps:.0f} | {p50_ms:.2f} | "
          "{p99_ms:.2f} | {non_2xx} |".format(**best["gateway"]))
    print(f"ratio gateway/floor: {ratio:.2f}; plain proxy/floor: "
          f"{best['proxied']['rps'] / best['bare']['rps']:.2f}")
    print(json.dumps({"ratio": round(ratio, 3), **{k: v for k, v in best.items()}}))


if __name__ == "__main__":
    main()
