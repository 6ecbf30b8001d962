"""CPU per request inside the gunicorn workers, which tells where the gateway's
overhead goes: the bare endpoint, the service answered directly, and the same
through the gateway (service workers plus nginx workers). wrk drives each for a few
seconds while the processes' CPU time (/proc) is read before and after.

    python bench/worker_cpu.py [--seconds 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from gateway_overhead import QUOTA, start_bare, wrk  # noqa: E402

from oms_gateway.stack import Stack, free_port, free_ports  # noqa: E402


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    from conftest import Caller

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    stack = Stack(data_dir=Path(tempfile.mkdtemp(prefix="oms-bench-cpu-")),
                  listen=f"127.0.0.1:{free_port()}",
                  service_ports=free_ports(),
                  env={"OMS_LOG_LEVEL": "WARNING", **QUOTA}, workers=args.workers, threads=4,
                  log_to_files=True, channel=False)
    stack.start()
    bare_port = free_port()
    bare = start_bare(bare_port, args.workers, 4)
    try:
        caller = Caller(stack.url, stack.credentials["app_id"],
                        stack.credentials["app_secret"]).sign_in()
        system = next(c for c in stack.children if c.name.startswith("system-")).process.pid
        gateway = next(c for c in stack.children if c.name == "gateway").process.pid
        port = stack.ports["system"][0]
        token = {"Token": caller.token}
        time.sleep(2)
        targets = [
            ("bare Flask endpoint", f"http://127.0.0.1:{bare_port}/bare", {},
             children(bare.pid)),
            ("setting/info, through the gateway", f"{stack.url}/pms/system/setting/info",
             token, children(system) + children(gateway)),
            ("setting/info, service port", f"http://127.0.0.1:{port}/pms/system/setting/info",
             token, children(system)),
        ]
        print("| target | req/s | CPU per request in its workers (µs) |")
        print("|---|---|---|")
        for name, url, headers, pids in targets:
            before = cpu_seconds(pids)
            result = wrk(url, headers, args.seconds, 32)
            spent = cpu_seconds(pids) - before
            per_request = 1e6 * spent / (result["rps"] * args.seconds)
            print(f"| {name} | {result['rps']:.0f} | {per_request:.0f} |")
    finally:
        bare.terminate()
        bare.wait()
        stack.stop()


if __name__ == "__main__":
    main()
