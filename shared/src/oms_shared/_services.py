"""The platform's services, written once.

Each row says what a service is: its name (its package is ``<name>_service`` in the
folder ``<name>-service``), the path prefixes the gateway routes to it, whether it
owns a database, how its requests run (threads, or greenlets for requests that
wait), and its processes: the HTTP app (gunicorn runs
``<name>_service.app:create_app()``) and any workers, long-running functions the
launcher supervises next to it (``"<module>:<function>"``, see
:mod:`oms_shared.worker`). Settings, the gateway's nginx configuration, the
launcher, the tests and the benchmarks read this table; ``docker-compose.yml``
cannot, so a test keeps it in line.

Adding a service is one row here and one package.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["SERVICES", "SERVICE_NAMES", "ServiceSpec", "ServiceTableError", "check_packages",
           "service_spec"]


class ServiceTableError(RuntimeError):
    """A row of the service table that cannot run; the message says what is missing."""


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    routes: tuple[str, ...]
    database: bool = False
    http: bool = True
    workers: tuple[str, ...] = ()
    #: "threads" (gunicorn's gthread), or "greenlets" (gevent) for a service whose
    #: requests mostly wait (on a device), so a waiting request costs no thread.
    concurrency: Literal["threads", "greenlets"] = "threads"

    @property
    def package(self) -> str:
        return f"{self.name}_service"

    @property
    def folder(self) -> str:
        return f"{self.name}-service"

    @property
    def app_module(self) -> str:
        return f"{self.package}.app"

    @property
    def wsgi_app(self) -> str:
        """What gunicorn is given."""
        return f"{self.app_module}:create_app()"

    def check_package(self) -> None:
        """Raise :class:`ServiceTableError` unless the row's package and app module and
        every worker's module can be imported."""
        modules = [self.app_module, *(target.partition(":")[0] for target in self.workers)]
        for module in modules:
            try:
                found = importlib.util.find_spec(module) is not None
            except ModuleNotFoundError:
                found = False
            if not found:
                raise ServiceTableError(
                    f"service {self.name!r} is in the service table but {module} cannot be "
                    f"imported: add the package {self.package} (folder {self.folder}/, "
                    f"with {self.package}/app.py defining create_app) and install it")


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("auth", routes=("/oms/auth/",), database=True),
    ServiceSpec("device", routes=("/oms/produce/", "/oms/device/"), database=True,
                workers=("device_service.presence:run", "device_service.ingest:run")),
    ServiceSpec("product", routes=("/oms/product/",), database=True),
    ServiceSpec("user", routes=("/oms/user/", "/oms/device/member/"), database=True,
                workers=("user_service.workers:removals",)),
    ServiceSpec("group", routes=("/oms/group/", "/oms/user/group/", "/oms/device/group/"),
                database=True, workers=("group_service.workers:removals",)),
    ServiceSpec("command", routes=("/oms/device/property/set", "/oms/device/service/invoke",
                                   "/oms/device/command/", "/oms/group/command"),
                database=True, concurrency="greenlets",
                workers=("command_service.replies:run", "command_service.dispatch:run")),
    ServiceSpec("system", routes=("/pms/system/",)),
)
SERVICE_NAMES: tuple[str, ...] = tuple(spec.name for spec in SERVICES)


def service_spec(name: str, services: Sequence[ServiceSpec] = SERVICES) -> ServiceSpec:
    for spec in services:
        if spec.name == name:
            return spec
    raise ServiceTableError(f"unknown service {name!r}")


def check_packages(services: Sequence[ServiceSpec] = SERVICES) -> None:
    for spec in services:
        spec.check_package()
