import os
import subprocess
import sys

from command_service.app import create_app

ROUTES = {"/oms/device/property/set", "/oms/device/service/invoke",
          "/oms/device/command/logs/<device_id>", "/oms/group/command",
          "/oms/group/command/detail/<job_id>", "/oms/group/command/cancel/<job_id>"}


def test_config_reaches_the_app(base_config, tmp_path):
    app = create_app({**base_config, "command": {"database_url": f"sqlite:///{tmp_path}/c.db"}})
    assert app.extensions["oms"].service == "command"
    assert str(app.extensions["oms_db"].engine.url) == f"sqlite:///{tmp_path}/c.db"
    assert {r.rule for r in app.url_map.iter_rules()} >= ROUTES
    app.extensions["oms_db"].engine.dispose()


def _worker_class(service: str) -> str:
    code = "import oms_shared.gunicorn_conf as c; print(c.worker_class, c.worker_connections)"
    env = {**os.environ, "OMS_SERVICE": service, "OMS_THREADS": "4"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_requests_wait_on_greenlets_here_and_on_threads_elsewhere():
    assert _worker_class("command") == "gevent 400"
    assert _worker_class("device") == "gthread 400"
