"""The running configuration as the API shows it: every secret and password left out."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from oms_shared import SERVICES, Settings
from system_service.schemas import SettingInfo, StorageInfo, TokenInfo


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


def get(*, settings: Settings) -> SettingInfo:
    """Only what is safe to show: no secret, password or credential appears."""
    return SettingInfo(
        bind_address=settings.bind_address,
        version=settings.version,
        environment=settings.environment,
        token=TokenInfo(lifetime_seconds=settings.auth.token_ttl,
                        timestamp_window_seconds=settings.auth.timestamp_window),
        storage={spec.name: _database(settings.database_url(spec.name))
                 for spec in SERVICES if spec.database},
        redis=_endpoint(settings.redis.url.get_secret_value()),
        broker=_endpoint(settings.broker.url.get_secret_value()),
    )
