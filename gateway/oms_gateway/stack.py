"""Run the whole platform: nginx in front, every service under gunicorn, and the
services' workers, all read from the service table (``oms_shared.SERVICES``).

``make run`` calls ``oms-stack run``: embedded defaults (SQLite under the data
directory, a private Redis when none is configured), the gateway on
``bind_address`` (``0.0.0.0:36002``), the default app's credentials printed,
and Ctrl-C stopping every process it started. The end-to-end tests start the
same :class:`Stack` on free ports.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import requests

from oms_gateway.broker import PrivateBroker, rabbitmq_available
from oms_gateway.render import render
from oms_shared import (
    SERVICES,
    ServiceSpec,
    check_packages,
    free_port,
    load_settings,
    raw_settings,
)

__all__ = ["Stack", "child_count", "free_port", "free_ports", "main"]

FIRST_SERVICE_PORT = 36010
PR_SET_PDEATHSIG = 1


def free_ports(services: Sequence[ServiceSpec] = SERVICES) -> dict[str, list[int]]:
    """One free port for each HTTP service (tests and benchmarks)."""
    return {spec.name: [free_port()] for spec in services if spec.http}


def child_count(pid: int) -> int:
    """How many processes ``pid`` has started (a gunicorn master's booted workers)."""
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    count += 1
    return count


def _child_setup() -> None:
    """In each child: files it creates are the platform user's only, and it gets SIGTERM
    if the launcher itself dies (Linux)."""
    os.umask(0o077)
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6").prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def make_private(folder: Path) -> None:
    """The data folder and everything in it readable by the platform's user only (it
    holds the JWT secret, app and device secrets): also what an older run left open."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink() and path.stat().st_mode & 0o077:
            path.chmod(path.stat().st_mode & 0o700)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "0.0.0.0", int(port)


@dataclass
class _Child:
    name: str
    process: subprocess.Popen
    stop_signal: int = signal.SIGTERM
    #: A worker is started again when it dies; anything else dying stops the platform.
    restart: tuple[list[str], dict[str, str]] | None = None
    restarts: int = 0  # quick deaths in a row
    started: float = field(default_factory=time.monotonic)
    restart_at: float | None = None


RESTART_DELAY = 0.5  # doubled after each quick death, up to RESTART_DELAY_MAX
RESTART_DELAY_MAX = 30.0


@dataclass
class Stack:
    """The platform's processes. ``start()``, use ``url``, then ``stop()``."""

    data_dir: Path
    listen: str | None = None
    services: Sequence[ServiceSpec] = SERVICES
    service_ports: Mapping[str, list[int]] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    workers: int = 2
    threads: int = 4
    worker_processes: int = 1  # processes per worker of the service table
    #: Start a private broker node (devices' MQTT) when none is configured.
    channel: bool = True
    log_to_files: bool = False
    children: list[_Child] = field(default_factory=list)
    credentials: dict[str, Any] = field(default_factory=dict)

    # ---- set-up -------------------------------------------------------------------------

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        self.run_dir = self.data_dir / "run"
        self.log_dir = self.data_dir / "logs"
        raw = raw_settings({**os.environ, **self.env})
        self.listen = self.listen or raw.get("bind_address", "0.0.0.0:36002")
        check_packages(self.services)
        self.http = [spec for spec in self.services if spec.http]
        self.ports = dict(self.service_ports or {
            spec.name: [FIRST_SERVICE_PORT + i] for i, spec in enumerate(self.http)})
        self.child_env = self._environment(raw)
        self.failure: str | None = None
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._supervisor: threading.Thread | None = None

    def _environment(self, raw: dict[str, Any]) -> dict[str, str]:
        env = {**os.environ, **self.env}
        env.setdefault("OMS_DATA_DIR", str(self.data_dir))
        env["OMS_BIND_ADDRESS"] = self.listen
        if not raw.get("jwt", {}).get("secret"):
            env["OMS_JWT__SECRET"] = self._persistent_secret()
        if not raw.get("secrets", {}).get("keys"):
            env["OMS_SECRETS__KEYS"], env["OMS_SECRETS__CURRENT"] = self._persistent_keyring()
        for spec in self.http:
            env[f"OMS_{spec.name.upper()}__URL"] = f"http://127.0.0.1:{self.ports[spec.name][0]}"
        self.needs_private_redis = not raw.get("redis", {}).get("url")
        self.broker: PrivateBroker | None = None
        if self.channel and not raw.get("broker", {}).get("amqp_url"):
            auth = env.get("OMS_DEVICE__URL", "")
            self.broker = PrivateBroker(self.data_dir / "broker", auth_url=auth)
            env.update(self.broker.urls)
        return env

    def _persistent_secret(self) -> str:
        path = self.data_dir / "jwt.secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return path.read_text().strip()

    def _persistent_keyring(self) -> tuple[str, str]:
        """``data/secrets.keys``: the keys that seal device and product secrets at rest,
        one ``<id>:<base64 of 32 bytes>`` a line, the last one current; one is made on
        the first start. To rotate: add a line, start again, run ``secrets-rotate``."""
        path = self.data_dir / "secrets.keys"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            key = base64.b64encode(secrets.token_bytes(32)).decode()
            with os.fdopen(fd, "w") as handle:
                handle.write("# Keys sealing device and product secrets: <id>:<base64 of 32"
                             " bytes>, the last line current.\n"
                             "# Rotate: add a line, restart, then"
                             " flask --app <svc>_service.app secrets-rotate.\n"
                             f"k{secrets.token_hex(4)}:{key}\n")
        lines = [line.strip() for line in path.read_text().splitlines()
                 if line.strip() and not line.lstrip().startswith("#")]
        if not lines:
            raise RuntimeError(f"{path} holds no key")
        return ",".join(lines), lines[-1].split(":", 1)[0]

    @property
    def port(self) -> int:
        return _split(self.listen or "")[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- processes ----------------------------------------------------------------------

    def _output(self, name: str) -> IO[bytes] | None:
        if not self.log_to_files:
            return None
        fd = os.open(self.log_dir / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "ab")

    def _popen(self, name: str, argv: list[str], env: Mapping[str, str]) -> subprocess.Popen:
        out = self._output(name)
        process = subprocess.Popen(argv, env=dict(env), stdout=out,
                                   stderr=subprocess.STDOUT if out else None,
                                   start_new_session=True, preexec_fn=_child_setup)
        if out is not None:
            out.close()  # the child holds its own descriptor
        return process

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None,
               stop_signal: int = signal.SIGTERM, restart: bool = False) -> subprocess.Popen:
        env = dict(env or self.child_env)
        process = self._popen(name, argv, env)
        with self._lock:
            self.children.append(_Child(name, process, stop_signal,
                                        restart=(argv, env) if restart else None))
        return process

    def _flask(self, module: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "flask", "--app", module, *args],
                              env=self.child_env, capture_output=True, text=True, check=False,
                              preexec_fn=_child_setup)

    def _start_redis(self) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed and no redis.url is configured")
        port = free_port()
        self._spawn("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"])
        self.child_env["OMS_REDIS__URL"] = f"redis://127.0.0.1:{port}/0"
        self._wait(lambda: socket.create_connection(("127.0.0.1", port), 0.2).close(),
                   "redis", 10)

    def _start_broker(self) -> None:
        broker = self.broker
        assert broker is not None
        if not rabbitmq_available():
            raise RuntimeError("rabbitmq-server is not installed and no broker.amqp_url is "
                               "configured (make run installs it)")
        broker.write_config()
        self._spawn("broker", broker.command(), env=broker.env())
        self._wait(broker.ready, "the broker node", 60)
        broker.create_platform_user()

    def _prepare_databases(self) -> None:
        pending = {spec.name: subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", spec.app_module, "init-db"],
            env=self.child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=_child_setup)
            for spec in self.services if spec.database}
        for name, process in pending.items():
            output, _ = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"{name}: init-db failed:\n{output}")
        if any(spec.name == "auth" for spec in self.services):
            result = self._flask("auth_service.app", "apps", "bootstrap", "--json")
            if result.returncode != 0:
                raise RuntimeError(f"creating the default app failed:\n{result.stderr}")
            self.credentials = json.loads(result.stdout.strip().splitlines()[-1])

    def _export_openapi(self) -> Path:
        path = self.run_dir / "openapi.json"
        result = subprocess.run([sys.executable, "-m", "oms_gateway.openapi_export", str(path)],
                                env=self.child_env, capture_output=True, text=True, check=False,
                              preexec_fn=_child_setup)
        if result.returncode != 0:
            raise RuntimeError(f"generating the OpenAPI document failed:\n{result.stderr}")
        return path

    def _start_services(self) -> None:
        for spec in self.http:
            for port in self.ports[spec.name]:
                env = {**self.child_env, "OMS_SERVICE": spec.name,
                       "OMS_BIND": f"127.0.0.1:{port}", "OMS_WORKERS": str(self.workers),
                       "OMS_THREADS": str(self.threads)}
                self._spawn(f"{spec.name}-{port}", [
                    sys.executable, "-m", "gunicorn", "-c", "python:oms_shared.gunicorn_conf",
                    spec.wsgi_app], env=env)

    def worker_names(self) -> dict[str, tuple[str, str]]:
        """Each worker process's name and what it runs: ``{name: (service, target)}``."""
        names = {}
        for spec in self.services:
            for target in spec.workers:
                label = target.removeprefix(f"{spec.package}.").replace(":", ".")
                for index in range(1, self.worker_processes + 1):
                    names[f"{spec.name}-{label}-{index}"] = (spec.name, target)
        return names

    def start_worker(self, name: str) -> None:
        """Start one worker process (all of them start with the platform)."""
        service, target = self.worker_names()[name]
        self._spawn(name, [sys.executable, "-m", "oms_shared.worker", target],
                    env={**self.child_env, "OMS_SERVICE": service}, restart=True)

    def _start_workers(self) -> None:
        for name in self.worker_names():
            self.start_worker(name)

    # ---- supervision --------------------------------------------------------------------

    def _supervise(self) -> None:
        """Every 0.2 s: start dead workers again, each when its own back-off is over
        (0.5 s, doubled while it keeps dying within ``RESTART_DELAY_MAX``), and note the
        death of anything else in ``failure`` for the caller to act on. It never dies of
        an error of its own: it records it and goes on."""
        while not self._halt.wait(0.2):
            try:
                self._supervise_once()
            except Exception as exc:  # fork failed, no file descriptors...: say so, go on
                self.failure = self.failure or f"supervising failed: {exc!r}"

    def _supervise_once(self) -> None:
        now = time.monotonic()
        with self._lock:
            dead = [c for c in self.children if c.process.poll() is not None]
        for child in dead:
            code = child.process.returncode
            if child.restart is None:
                self.failure = self.failure or f"{child.name} exited with {code}"
                continue
            if child.restart_at is None:  # just found dead: when may it start again?
                quick = now - child.started < RESTART_DELAY_MAX
                child.restarts = child.restarts + 1 if quick else 0
                child.restart_at = now + (min(RESTART_DELAY * 2 ** (child.restarts - 1),
                                              RESTART_DELAY_MAX) if quick else 0.0)
            if now < child.restart_at or self._halt.is_set():
                continue
            argv, env = child.restart
            with self._lock:  # stop() sets _halt, then takes this lock: no start after it
                if child not in self.children or self._halt.is_set():
                    continue
                child.process = self._popen(child.name, argv, env)
                child.started, child.restart_at = time.monotonic(), None
            print(f"{child.name} exited with {code}; started again", file=sys.stderr,
                  flush=True)

    def _start_gateway(self, openapi: Path) -> None:
        if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
            raise RuntimeError("nginx is not installed (make run installs it)")
        settings = load_settings(environ=self.child_env)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        config = render(
            listen=self.listen or "", run_dir=str(self.run_dir), openapi_path=str(openapi),
            upstreams={n: [f"127.0.0.1:{p}" for p in ports] for n, ports in self.ports.items()},
            access_log=str(self.log_dir / "gateway-access.log"),
            token_rate=settings.gateway.token_rate_per_second,
            token_burst=settings.gateway.token_burst,
            trusted_proxies=settings.gateway.trusted_proxies,
            worker_processes="2", user="root" if os.geteuid() == 0 else None,
            services=self.services)
        conf = self.run_dir / "nginx.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(config)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self._spawn("gateway", [nginx, "-p", str(self.run_dir), "-c", str(conf), "-e", "stderr",
                                "-g", "daemon off;"], stop_signal=signal.SIGQUIT)

    def _wait(self, probe: Any, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for child in self.children:
                if child.process.poll() is not None:
                    raise RuntimeError(f"{child.name} exited with {child.process.returncode}"
                                       f"{self._log_hint(child.name)}")
            try:
                probe()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{what} did not become ready in {timeout:.0f} s") from None
                time.sleep(0.1)

    def _log_hint(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        if self.log_to_files and path.exists():
            return ":\n" + path.read_text(errors="replace")[-3000:]
        return ""

    def _has_workers(self, pid: int) -> None:
        if child_count(pid) < self.workers:
            raise RuntimeError("workers still booting")

    def _ready(self, url: str) -> None:
        requests.get(url, timeout=1).raise_for_status()

    def _write_env_file(self) -> None:
        """``run/oms.env``: the settings of this run, for ``make apps`` (owner-only)."""
        path = self.run_dir / "oms.env"
        lines = [f"{k}={v}" for k, v in sorted(self.child_env.items())
                 if k.startswith("OMS_") and k not in ("OMS_SERVICE", "OMS_BIND")]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")

    def start(self, timeout: float = 60) -> Stack:
        make_private(self.data_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            if self.needs_private_redis:
                self._start_redis()
            if self.broker is not None:
                self._start_broker()
            self._write_env_file()
            self._prepare_databases()
            openapi = self._export_openapi()
            self._start_services()
            self._start_workers()
            for name, ports in self.ports.items():
                for port in ports:
                    self._wait(lambda p=port: self._ready(f"http://127.0.0.1:{p}/readyz"),
                               f"{name} on {port}", timeout)
            for child in self.children:  # every worker, not just the first, has booted
                if child.restart is None and child.name.split("-")[0] in self.ports:
                    self._wait(lambda c=child: self._has_workers(c.process.pid),
                               f"{child.name} workers", timeout)
            self._start_gateway(openapi)
            self._wait(lambda: self._ready(f"{self.url}/healthz"), "gateway", timeout)
            self._halt.clear()
            self._supervisor = threading.Thread(target=self._supervise, name="oms-supervisor",
                                                daemon=True)
            self._supervisor.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop_child(self, name: str, timeout: float = 10) -> None:
        with self._lock:
            stopping = [c for c in self.children if c.name == name]
            for child in stopping:
                self.children.remove(child)
        self._terminate(stopping, timeout)

    def restart_broker(self, timeout: float = 60) -> None:
        """Stop the private broker node and start it again with the same command and
        environment (node name, data folder, configuration and ports are kept); return
        once it accepts AMQP and MQTT connections again (tests: a broker restart)."""
        broker = self.broker
        if broker is None:
            raise RuntimeError("this platform has no private broker node")
        self.stop_child("broker", timeout=timeout)
        process = self._spawn("broker", broker.command(), env=broker.env())
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the broker node exited with {process.returncode}"
                                   f"{self._log_hint('broker')}")
            try:
                broker.ready()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the broker node did not become ready in "
                                       f"{timeout:.0f} s") from None
                time.sleep(0.1)

    def _terminate(self, children: list[_Child], timeout: float) -> None:
        for child in children:
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(child.stop_signal)
        deadline = time.monotonic() + timeout
        for child in children:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait()

    def stop(self) -> None:
        """Gateway first, then the services and workers, Redis last (services report to
        it on exit). The supervisor stops restarting first, and is joined last: a
        process it started would get SIGTERM when its thread ends (PR_SET_PDEATHSIG
        follows the thread that forked)."""
        self._halt.set()
        order = {"gateway": 0, "broker": 2, "redis": 2}
        for rank in (0, 1, 2):
            with self._lock:
                group = [c for c in self.children if order.get(c.name, 1) == rank]
            self._terminate(group, 10)
        if self._supervisor is not None:
            self._supervisor.join()
            self._supervisor = None
        self.children.clear()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _banner(stack: Stack) -> str:
    creds = stack.credentials
    app_id, secret = creds.get("app_id", ""), creds.get("app_secret", "")
    sign = f"$(printf %s \"{app_id}${{TS}}{secret}\" | md5sum | cut -d' ' -f1)"
    example = (
        f"TS=$(date +%s); curl -s -X POST {stack.url}/oms/auth/token "
        f"-d \"{{\\\"app_id\\\":\\\"{app_id}\\\",\\\"timestamp\\\":\\\"$TS\\\","
        f"\\\"sign\\\":\\\"{sign}\\\"}}\""
    )
    return "\n".join([
        "",
        f"OMS is up: gateway on {stack.listen}",
        f"  default app   app_id={app_id}  app_secret={secret}  tenant={creds.get('tenant')}",
        f"  API document  {stack.url}/openapi.json",
        f"  devices (MQTT) {stack.child_env.get('OMS_BROKER__URL', '')}",
        "  get a token:",
        f"  {example}",
        "Ctrl-C stops everything.",
        "",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="oms-stack", description=__doc__)
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--data-dir", default=os.environ.get("OMS_DATA_DIR", "data"))
    parser.add_argument("--workers", type=int, default=2,
                        help="gunicorn worker processes per service")
    parser.add_argument("--consumers", type=int, default=1,
                        help="processes per worker of the service table (event consumers)")
    args = parser.parse_args(argv)
    stack = Stack(data_dir=Path(args.data_dir), workers=args.workers,
                  worker_processes=args.consumers)
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start()
        print(_banner(stack), flush=True)
        while stack.failure is None:
            time.sleep(0.5)
        print(f"{stack.failure}; stopping", file=sys.stderr)
        stack.stop()
        raise SystemExit(1)
    except KeyboardInterrupt:
        # Ctrl-C reaches make too, which may signal us again: finish the orderly stop
        # (gateway, services, then Redis) before anything else.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\nstopping OMS ...", file=sys.stderr)
        stack.stop()
    except RuntimeError as exc:
        print(f"OMS failed to start: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
