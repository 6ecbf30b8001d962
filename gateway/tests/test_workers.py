"""The launcher runs a service's workers next to its HTTP app, starts a worker again
when it dies, and stops it cleanly."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from conftest import REDIS_URL  # type: ignore[import-not-found]
from oms_gateway.stack import Stack, free_ports
from oms_shared import SERVICES, ServiceSpec, free_port, service_spec
from oms_shared.testing import wait_until

pytestmark = pytest.mark.e2e

WORKER = '''
import os
from pathlib import Path


def run(app, stop):
    out = Path(os.environ["WORKER_FIXTURE_DIR"])
    (out / f"{os.getpid()}.started").write_text(app.extensions["oms"].service)
    while not stop.wait(0.05):
        pass
    (out / f"{os.getpid()}.stopped").write_text("")
'''


def _started(folder: Path) -> list[int]:
    return sorted(int(p.stem) for p in folder.glob("*.started"))


def test_a_worker_is_supervised(tmp_path: Path, redis_prefix: str, monkeypatch):
    code = tmp_path / "code"
    code.mkdir()
    (code / "oms_worker_fixture.py").write_text(WORKER)
    monkeypatch.syspath_prepend(str(code))
    out = tmp_path / "out"
    out.mkdir()
    system = service_spec("system")
    table = [service_spec("auth"),
             ServiceSpec(system.name, routes=system.routes, workers=("oms_worker_fixture:run",))]
    assert table[1] != system and len(SERVICES) > len(table)
    stack = Stack(data_dir=tmp_path / "data", listen=f"127.0.0.1:{free_port()}",
                  services=table, service_ports=free_ports(table), workers=1, threads=2,
                  log_to_files=True, channel=False,
                  env={"OMS_REDIS__URL": REDIS_URL, "OMS_REDIS__PREFIX": f"{redis_prefix}-w",
                       "PYTHONPATH": os.pathsep.join([str(code), os.environ.get("PYTHONPATH",
                                                                                 "")]),
                       "WORKER_FIXTURE_DIR": str(out)})
    with stack:
        [first] = wait_until(lambda: _started(out), what="the worker's start")
        assert (out / f"{first}.started").read_text() == "system"  # inside its service's app
        os.kill(first, signal.SIGKILL)
        second = wait_until(lambda: [p for p in _started(out) if p != first],
                            what="the worker's restart")[0]
        assert stack.failure is None  # a worker's death does not stop the platform
    assert (out / f"{second}.stopped").exists()  # SIGTERM let it finish
    assert not (out / f"{first}.stopped").exists()
