"""The ``oms-apps`` console command itself, as an operator runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import JWT_SECRET, REDIS_URL  # type: ignore[import-not-found]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, redis_prefix: str) -> dict[str, str]:
    environment = {**os.environ, "OMS_JWT__SECRET": JWT_SECRET, "OMS_REDIS__URL": REDIS_URL,
                   "OMS_REDIS__PREFIX": f"{redis_prefix}:console",
                   "OMS_DATA_DIR": str(tmp_path_factory.mktemp("console")),
                   "OMS_LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "auth_service.app", "init-db"],
                   env=environment, check=True, capture_output=True)
    return environment


def _oms_apps(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    command = shutil.which("oms-apps", path=str(Path(sys.executable).parent))
    assert command, "the oms-apps entry point is installed with the auth service"
    return subprocess.run([command, *args], env=env, capture_output=True, text=True,
                          check=False, timeout=60)


def test_create_list_and_disable(env):
    created = _oms_apps(env, "create", "--tenant", "acme", "--json")
    assert created.returncode == 0, created.stderr
    app = json.loads(created.stdout)
    assert app["tenant"] == "acme" and len(app["app_secret"]) == 32
    disabled = _oms_apps(env, "disable", app["app_id"])
    assert disabled.returncode == 0 and "revoked" in disabled.stdout
    listed = _oms_apps(env, "list", "--json")
    [row] = [a for a in json.loads(listed.stdout) if a["app_id"] == app["app_id"]]
    assert row["enabled"] is False and row["tenant"] == "acme"
    assert app["app_secret"] not in listed.stdout


def test_errors_are_one_line_and_a_failing_exit_code(env):
    missing = _oms_apps(env, "disable", "no-such-app")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: app no-such-app not found"
    unconfigured = _oms_apps({**env, "OMS_JWT__SECRET": "short"}, "list")
    assert unconfigured.returncode == 1 and "jwt.secret" in unconfigured.stderr
    assert "Traceback" not in unconfigured.stderr
