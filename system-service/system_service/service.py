"""Reads of the running configuration (secrets left out) and of the registry."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from oms_shared import SERVICE_NAMES, Registry, Settings
from system_service.schemas import (
    InstanceRead,
    ServiceList,
    ServiceRead,
    SettingInfo,
    StorageInfo,
    TokenInfo,
)


def _database(url: str) -> StorageInfo:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return StorageInfo(kind="sqlite", host=None)
    host = f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host
    return StorageInfo(kind=backend, host=host)


def _endpoint(url: str) -> StorageInfo:
    parts = urlsplit(url)
    host = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
    return StorageInfo(kind=parts.scheme, host=host)


def setting_info(*, settings: Settings) -> SettingInfo:
    """Only what is safe to show: no secret, password or credential appears."""
    return SettingInfo(
        bind_address=settings.bind_address,
        version=settings.version,
        environment=settings.environment,
        token=TokenInfo(lifetime_seconds=settings.auth.token_ttl,
                        timestamp_window_seconds=settings.auth.timestamp_window),
        storage={name: _database(settings.database_url(name))
                 for name in SERVICE_NAMES if name != "system"},
        redis=_endpoint(settings.redis.url.get_secret_value()),
        broker=_endpoint(settings.broker.url.get_secret_value()),
    )


def get_all(*, registry: Registry, down_after: float) -> ServiceList:
    services = []
    for name in SERVICE_NAMES:
        instances = [InstanceRead(**i) for i in registry.instances(name, down_after=down_after)]
        up = any(i.status == "up" for i in instances)
        services.append(ServiceRead(name=name, status="up" if up else "down",
                                    instances=instances))
    return ServiceList(list=services, total=len(services))
