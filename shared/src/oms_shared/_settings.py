"""Typed settings: defaults, then a TOML file, then environment variables.

The file is the one named by ``OMS_CONFIG`` (nothing when unset). Any value can
be overridden by an environment variable: ``OMS_BIND_ADDRESS`` for a top-level
key, ``OMS_AUTH__TOKEN_TTL`` for ``[auth] token_ttl``. A mapping passed to
:func:`load_settings` (what ``create_app(config)`` receives) wins over both.

Secrets are :class:`pydantic.SecretStr` and URLs that may carry a password are
shown through :func:`redact_url`, so neither reaches a log or a response.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from oms_shared._secrets import KEY_ID, decode_key
from oms_shared._services import SERVICE_NAMES, SERVICES
from oms_shared._version import __version__

__all__ = [
    "SERVICE_NAMES",
    "Settings",
    "SettingsError",
    "load_settings",
    "raw_settings",
    "redact_url",
]

ENV_PREFIX = "OMS_"
#: Variables of the process, not settings (see ``oms_shared.gunicorn_conf``).
PROCESS_VARIABLES = frozenset({"OMS_CONFIG", "OMS_SERVICE", "OMS_BIND", "OMS_WORKERS",
                               "OMS_THREADS", "OMS_ADVERTISE_ADDRESS", "OMS_STARTED_AT"})
MIN_SECRET_LENGTH = 32


class SettingsError(RuntimeError):
    """The configuration cannot be used; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JwtSettings(_Section):
    secret: SecretStr = SecretStr("")
    issuer: str = "oms"


class RedisSettings(_Section):
    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    prefix: str = "oms"
    socket_timeout: float = 2.0
    cluster: bool = False


class BrokerSettings(_Section):
    """The device channel: RabbitMQ with its MQTT plugin. ``url`` is where devices
    connect (MQTT); the platform reads and writes device traffic over ``amqp_url`` and
    drops connections through ``management_url``. The launcher starts a private node
    and sets all three when ``amqp_url`` is empty."""

    url: SecretStr = SecretStr("mqtt://127.0.0.1:1883")
    amqp_url: SecretStr = SecretStr("")
    management_url: SecretStr = SecretStr("")
    log_retention_days: int = Field(30, ge=1, le=3650)


class ServiceSettings(_Section):
    """What every service section holds: where peers reach it and its database."""

    url: str = ""
    database_url: SecretStr = SecretStr("")


class AuthSettings(ServiceSettings):
    token_ttl: int = Field(7200, ge=60, le=30 * 86400)
    timestamp_window: int = Field(300, ge=1, le=3600)


class EventSettings(_Section):
    """How consumers of events (``oms_shared.Consumer``) retry."""

    reclaim_after: float = Field(30.0, gt=0)  # seconds an entry stays pending before a retry
    max_tries: int = Field(5, ge=1)


class GatewaySettings(_Section):
    token_rate_per_second: int = Field(20, ge=1)
    token_burst: int = Field(40, ge=0)
    #: Proxies (addresses or CIDR networks) in front of the gateway whose
    #: ``X-Forwarded-For`` it believes: the edge balancers. None by default: the client
    #: is the connection's peer, whatever a caller writes in the header.
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        """A list (the TOML file) or comma-separated text (``OMS_GATEWAY__TRUSTED_PROXIES``)."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        networks = []
        for item in value:
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return networks


class QuotaSettings(_Section):
    """Each app's request rate: a token bucket per app in Redis (``oms_shared._quota``),
    checked by every service after the token. ``rate_per_second`` 0 turns it off."""

    rate_per_second: float = Field(100.0, ge=0)
    burst: int = Field(200, ge=1)


class SecretsSettings(_Section):
    """The keys that seal the secrets stored encrypted (device and product secrets):
    key id -> 32 random bytes in base64 (``openssl rand -base64 32``), and the id of
    the one new values are sealed with (the last one listed when not given). Older keys
    stay to open what they sealed until ``secrets-rotate`` has sealed it anew. Required
    in production; elsewhere, with none configured, a key derived from ``jwt.secret`` is
    used (key id ``jwt``). ``OMS_SECRETS__KEYS`` takes ``id:key,id:key``."""

    keys: dict[str, SecretStr] = {}
    current: str = ""

    @field_validator("keys", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            pairs = [part.strip() for part in value.split(",") if part.strip()]
            if any(":" not in pair for pair in pairs):
                raise ValueError("write each key as <id>:<base64 of 32 bytes>")
            return dict(pair.split(":", 1) for pair in pairs)
        return value

    @field_validator("keys")
    @classmethod
    def _keys(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for kid, key in value.items():
            if not KEY_ID.fullmatch(kid):
                raise ValueError(f"key id {kid!r}: 1 to 32 of [A-Za-z0-9_-]")
            try:
                decode_key(key.get_secret_value())
            except ValueError as exc:  # the message never holds the key
                raise ValueError(f"key {kid!r} {exc}") from None
        return value

    @model_validator(mode="after")
    def _current(self) -> Self:
        if self.keys and not self.current:  # the last one listed
            self.current = list(self.keys)[-1]
        if self.keys and self.current not in self.keys:
            raise ValueError(f"current key {self.current!r} is not one of secrets.keys")
        if self.current and not self.keys:
            raise ValueError("secrets.current names a key, but secrets.keys is empty")
        return self


class _PlatformSettings(_Section):
    """Every setting but the per-service sections, which :data:`Settings` adds from the
    service table."""

    bind_address: str = "0.0.0.0:36002"
    version: str = __version__
    environment: Literal["development", "production", "test"] = "development"
    data_dir: str = "data"
    log_level: str = "INFO"
    heartbeat_interval: float = Field(1.0, gt=0)
    down_after: float = Field(5.0, gt=0)
    service_timeout: float = Field(5.0, gt=0)
    gateway: GatewaySettings = GatewaySettings()
    events: EventSettings = EventSettings()
    jwt: JwtSettings = JwtSettings()
    redis: RedisSettings = RedisSettings()
    broker: BrokerSettings = BrokerSettings()
    quota: QuotaSettings = QuotaSettings()
    secrets: SecretsSettings = SecretsSettings()

    @model_validator(mode="after")
    def _refuse_weak_secret(self) -> Self:
        if len(self.jwt.secret.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"jwt.secret must be set, at least {MIN_SECRET_LENGTH} characters")
        if self.environment == "production" and not self.secrets.keys:
            raise ValueError("secrets.keys must be set in production (the keys that seal "
                             "device and product secrets: id:base64 of 32 random bytes)")
        return self

    def database_url(self, name: str) -> str:
        """The service's database URL; SQLite under ``data_dir`` when none is set."""
        url = self.service(name).database_url.get_secret_value()
        return url or f"sqlite:///{Path(self.data_dir).resolve() / (name + '.db')}"

    def service(self, name: str) -> ServiceSettings:
        section = getattr(self, name, None)
        if name not in SERVICE_NAMES or not isinstance(section, ServiceSettings):
            raise SettingsError(f"unknown service {name!r}")
        return section


#: Sections that hold more than ``url`` and ``database_url``.
SERVICE_SECTIONS: dict[str, type[ServiceSettings]] = {"auth": AuthSettings}

#: The settings: the platform's, and one section per row of the service table.
Settings = create_model(  # type: ignore[call-overload]
    "Settings", __base__=_PlatformSettings, __module__=__name__,
    **{spec.name: (SERVICE_SECTIONS.get(spec.name, ServiceSettings),
                   SERVICE_SECTIONS.get(spec.name, ServiceSettings)())
       for spec in SERVICES})


def redact_url(url: str | SecretStr) -> str:
    """The URL with any password replaced by ``***``."""
    raw = url.get_secret_value() if isinstance(url, SecretStr) else url
    parts = urlsplit(raw)
    if parts.password is None:
        return raw
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in PROCESS_VARIABLES:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = result
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return result


def _from_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        with Path(path).open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise SettingsError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc


def raw_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The file and environment values before validation (what a launcher inspects)."""
    environ = os.environ if environ is None else environ
    return _deep_merge(_from_file(environ.get("OMS_CONFIG")), _from_env(environ))


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings; raise :class:`SettingsError` naming any bad key."""
    raw = _deep_merge(raw_settings(environ), overrides or {})
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
