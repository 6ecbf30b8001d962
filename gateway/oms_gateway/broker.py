"""A private RabbitMQ node for the device channel, the way the launcher starts a private
Redis: its own node name, ports, data folder, configuration and plugins, so it never
meets another broker on the machine (port 1883 may well be taken).

Devices speak MQTT to it (``rabbitmq_mqtt``); it asks the device service whether a
device may connect, read and write (``rabbitmq_auth_backend_http``, after the internal
user database, which holds only the platform's own AMQP user); it announces
connections on ``amq.rabbitmq.event`` (``rabbitmq_event_exchange``); the management
API drops the connection of a device that is disabled or removed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from oms_shared import free_port

__all__ = ["PLUGINS", "PrivateBroker", "rabbitmq_available"]

PLUGINS = ("rabbitmq_mqtt", "rabbitmq_management", "rabbitmq_event_exchange",
           "rabbitmq_auth_backend_http")
SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # not the wrapper, which changes user
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
USER = "oms"


def rabbitmq_available() -> bool:
    return Path(SERVER).exists() or shutil.which("rabbitmq-server") is not None


@dataclass
class PrivateBroker:
    """``folder`` holds its data (kept across runs, with the platform user's password);
    ``auth_url`` is where the broker asks about devices (the device service)."""

    folder: Path
    auth_url: str

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        self.mqtt_port, self.amqp_port = free_port(), free_port()
        self.management_port, self.dist_port = free_port(), free_port()
        # Kept across runs: the node's queues (what devices sent while the platform was
        # down) live under its name.
        self.node = f"{self._kept('node.name', f'oms-{secrets.token_hex(4)}')}@localhost"
        self.password = self._kept("platform.password", secrets.token_hex(24))

    def _kept(self, name: str, first: str) -> str:
        path = self.folder / name
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(first)
        return path.read_text().strip()

    @property
    def urls(self) -> dict[str, str]:
        """The ``broker`` settings of the platform, as environment variables."""
        secret = quote(self.password, safe="")
        return {
            "OMS_BROKER__URL": f"mqtt://127.0.0.1:{self.mqtt_port}",
            "OMS_BROKER__AMQP_URL": f"amqp://{USER}:{secret}@127.0.0.1:{self.amqp_port}/%2F",
            "OMS_BROKER__MANAGEMENT_URL":
                f"http://{USER}:{secret}@127.0.0.1:{self.management_port}",
        }

    def env(self) -> dict[str, str]:
        """The node's environment: everything of its own under ``folder``."""
        return {**os.environ, "HOME": str(self.folder),
                "RABBITMQ_NODENAME": self.node,
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
                "RABBITMQ_LOG_BASE": str(self.folder / "log"),
                "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
                "RABBITMQ_PID_FILE": str(self.folder / "node.pid")}

    def write_config(self) -> None:
        (self.folder / "log").mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.folder / "mnesia").mkdir(parents=True, exist_ok=True, mode=0o700)
        auth = self.auth_url.rstrip("/")
        lines = [
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}",
            f"mqtt.listeners.tcp.default = 0.0.0.0:{self.mqtt_port}",
            f"management.tcp.port = {self.management_port}",
            "management.tcp.ip = 127.0.0.1",
            "mqtt.allow_anonymous = false",
            "mqtt.vhost = /",
            "mqtt.exchange = amq.topic",
            "loopback_users = none",
            # The platform's own user first (internal database), then every device: no
            # global auth cache, so a disabled device is refused at its next connect.
            "auth_backends.1 = internal",
            "auth_backends.2 = http",
            "auth_http.http_method = post",
            f"auth_http.user_path = {auth}/internal/broker/user",
            f"auth_http.vhost_path = {auth}/internal/broker/vhost",
            f"auth_http.resource_path = {auth}/internal/broker/resource",
            f"auth_http.topic_path = {auth}/internal/broker/topic",
            # The management API knows a new connection (and can drop it) after one stats
            # interval: keep it short, so a device disabled right after connecting is cut.
            "collect_statistics_interval = 500",
            "log.console = false",
            "log.file.level = warning",
        ]
        (self.folder / "rabbitmq.conf").write_text("\n".join(lines) + "\n")
        (self.folder / "enabled_plugins").write_text(f"[{','.join(PLUGINS)}].\n")

    def command(self) -> list[str]:
        return [SERVER if Path(SERVER).exists() else "rabbitmq-server"]

    def ready(self) -> None:
        """Raise until the node accepts AMQP and MQTT connections."""
        for port in (self.amqp_port, self.mqtt_port):
            socket.create_connection(("127.0.0.1", port), 0.2).close()

    def create_platform_user(self) -> None:
        """The platform's AMQP and management user (administrator, all permissions);
        the guest user is removed."""
        ctl = CTL if Path(CTL).exists() else "rabbitmqctl"
        env = self.env()

        def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
            return subprocess.run([ctl, "-n", self.node, *args], env=env, check=check,
                                  capture_output=True, text=True, timeout=60)

        run("await_startup")
        users = [line.split()[0] for line in run("list_users", "--silent").stdout.splitlines()
                 if line.strip()]
        if USER in users:  # the password kept in the folder is the one to have
            run("change_password", USER, self.password)
        else:
            run("add_user", USER, self.password)
        run("set_user_tags", USER, "administrator")
        run("set_permissions", "-p", "/", USER, ".*", ".*", ".*")
        run("delete_user", "guest", check=False)
