"""End-to-end fixtures: the real stack (nginx + every service under gunicorn) on
free ports, and a caller that signs like a client and holds a token."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from oms_gateway.stack import Stack, free_port, free_ports
from oms_shared.testing import wait_until

REDIS_URL = "redis://127.0.0.1:6379/0"


def sign(app_id: str, timestamp: str, secret: str) -> str:
    return hashlib.md5(f"{app_id}{timestamp}{secret}".encode()).hexdigest()  # noqa: S324


class Caller:
    """An API client of one app: signs, keeps its token, posts JSON."""

    def __init__(self, base_url: str, app_id: str, app_secret: str) -> None:
        self.base_url = base_url
        self.app_id = app_id
        self.app_secret = app_secret
        self.http = requests.Session()
        self.token: str | None = None

    def token_request(self, timestamp: str | None = None, secret: str | None = None) -> dict:
        ts = timestamp or str(int(time.time()))
        return {"app_id": self.app_id, "timestamp": ts,
                "sign": sign(self.app_id, ts, secret or self.app_secret)}

    def sign_in(self) -> Caller:
        """Sign in as a client would: after a 429 (a test exhausted the token rate limit),
        wait and try again."""

        def attempt() -> requests.Response | None:
            response = self.http.post(f"{self.base_url}/oms/auth/token",
                                      json=self.token_request())
            return None if response.status_code == 429 else response

        response = wait_until(attempt, timeout=10, interval=0.25, what="a token (not 429)")
        assert response.status_code == 200, response.text
        self.token = response.json()["data"]["token"]
        return self

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if self.token and "Token" not in headers:
            headers["Token"] = self.token
        return self.http.post(f"{self.base_url}{path}", json=body if body is not None else {},
                              headers=headers, timeout=30, **kwargs)

    def data(self, path: str, body: Any = None) -> Any:
        response = self.post(path, body)
        envelope = response.json()
        assert envelope["code"] == 0, envelope
        return envelope["data"]


class Platform:
    """A running stack plus helpers to manage its apps from the command line."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.url = stack.url

    def apps(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "auth_service.app", "apps", *args],
            env=self.stack.child_env, capture_output=True, text=True, check=True)
        return result.stdout

    def new_caller(self, tenant: str, *, operator: bool = False) -> Caller:
        """A new app of ``tenant``, signed in: a tenant app (it cannot call /pms/system),
        or an operator app (``oms-apps create --operator``)."""
        import json

        flags = ["--operator"] if operator else []
        created = json.loads(self.apps("create", "--tenant", tenant, *flags, "--json"))
        assert created["scope"] == ("operator" if operator else "tenant")
        return Caller(self.url, created["app_id"], created["app_secret"]).sign_in()

    def default_caller(self) -> Caller:
        """The default app the launcher bootstraps: the platform's operator app."""
        creds = self.stack.credentials
        return Caller(self.url, creds["app_id"], creds["app_secret"]).sign_in()


@pytest.fixture(scope="session")
def start_platform(tmp_path_factory: pytest.TempPathFactory, redis_prefix: str
                   ) -> Iterator[Callable[..., Platform]]:
    started: list[Stack] = []

    def start(channel: bool = False, **env: str) -> Platform:
        """A platform on free ports; ``channel`` adds a private broker node (devices)."""
        data_dir: Path = tmp_path_factory.mktemp("oms")
        stack = Stack(
            data_dir=data_dir,
            listen=f"127.0.0.1:{free_port()}",
            service_ports=free_ports(),
            env={"OMS_REDIS__URL": REDIS_URL,
                 "OMS_REDIS__PREFIX": f"{redis_prefix}-{len(started)}",
                 "OMS_HEARTBEAT_INTERVAL": "0.5", "OMS_DOWN_AFTER": "3",
                 "OMS_LOG_LEVEL": "INFO", **env},
            workers=1, threads=4, log_to_files=True, channel=channel)
        started.append(stack)
        stack.start()
        return Platform(stack)

    yield start
    for stack in started:
        stack.stop()


@pytest.fixture(scope="session")
def shared_platform(start_platform: Callable[..., Platform]) -> Platform:
    """One platform for the end-to-end modules that do not break it."""
    return start_platform()


@pytest.fixture(scope="session")
def channel_platform(start_platform: Callable[..., Platform]) -> Platform:
    """One platform with the device channel (a private broker node) for the modules that
    drive devices; event consumers retry after 2 s."""
    return start_platform(channel=True, OMS_EVENTS__RECLAIM_AFTER="2")


@pytest.fixture(scope="session")
def mqtt_port(channel_platform: Platform) -> int:
    return int(channel_platform.stack.child_env["OMS_BROKER__URL"].rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def platform(shared_platform: Platform) -> Platform:
    return shared_platform


@pytest.fixture(scope="module")
def caller(platform: Platform) -> Caller:
    return platform.default_caller()

