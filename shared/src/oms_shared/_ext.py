"""The OMS Flask extension: everything a service needs, wired by one ``init_app``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import click
from flask import Flask, Response, current_app, request
from flask.cli import with_appcontext
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import RequestRedirect

from oms_shared import _auth as auth
from oms_shared import _logs as logs
from oms_shared import _migrations as migrations
from oms_shared import _requestid as requestid
from oms_shared._bindings import BindingCache
from oms_shared._catalog import ProductCatalog, ProductGuard
from oms_shared._client import ServiceClient
from oms_shared._envelope import register_error_handlers
from oms_shared._health import blueprint as health_blueprint
from oms_shared._keys import Keys
from oms_shared._quota import Quota
from oms_shared._redis_client import RedisClient, connect
from oms_shared._registry import Registry
from oms_shared._revocation import RevocationStore
from oms_shared._secrets import Keyring, encrypted_columns, keyring_for, rotate
from oms_shared._settings import SERVICE_NAMES, Settings, SettingsError, load_settings

__all__ = ["OMS", "OMSState", "state"]

MAX_BODY = 1024 * 1024


@dataclass
class OMSState:
    """What a service shares between its requests and threads, built once by ``init_app``:
    the Redis helpers all use ``redis`` and the one key layout ``keys``."""

    service: str
    settings: Settings
    redis: RedisClient
    client: ServiceClient
    keys: Keys
    revocations: RevocationStore
    catalog: ProductCatalog
    guard: ProductGuard
    registry: Registry
    bindings: BindingCache
    quota: Quota
    #: seals and opens the secrets stored encrypted (``EncryptedString`` columns)
    secrets: Keyring
    extra: dict[str, Any] = field(default_factory=dict)


def state() -> OMSState:
    """The OMS state of the current app."""
    return current_app.extensions["oms"]


class OMS:
    """``OMS().init_app(app, service="product", config=config)``.

    Loads and validates the settings (``config`` wins over the file and the
    environment), then installs request ids, JSON logs, the envelope error
    handler, the token check, Redis, the service client and the health checks.
    """

    def init_app(self, app: Flask, *, service: str,
                 config: Mapping[str, Any] | None = None) -> OMSState:
        if service not in SERVICE_NAMES:
            raise SettingsError(f"unknown service {service!r}")
        settings = load_settings(config)
        app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
        _never_redirect(app)
        app.config["TESTING"] = settings.environment == "test"
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
        try:
            keys = Keys(settings.redis.prefix)
        except ValueError as exc:
            raise SettingsError(f"redis.prefix: {exc}") from None
        client = connect(settings)
        peers = ServiceClient(settings)
        oms_state = OMSState(service=service, settings=settings, redis=client,
                             client=peers, keys=keys, bindings=BindingCache(client, keys, peers),
                             revocations=RevocationStore(client, keys),
                             catalog=ProductCatalog(client, keys),
                             guard=ProductGuard(client, keys),
                             registry=Registry(client, keys),
                             quota=Quota(client, keys, rate=settings.quota.rate_per_second,
                                         burst=settings.quota.burst),
                             secrets=keyring_for(settings))
        app.extensions["oms"] = oms_state
        logs.configure(service, settings.log_level)
        app.before_request_funcs.setdefault(None, []).insert(0, _before)
        app.after_request(_after)
        register_error_handlers(app)
        app.register_blueprint(health_blueprint)
        app.cli.add_command(init_db)
        app.cli.add_command(db_revision)
        app.cli.add_command(secrets_rotate)
        return oms_state


def _never_redirect(app: Flask) -> None:
    """Routing answers a path as sent, never with a redirect: werkzeug would answer
    ``/oms/product//list`` (merged slashes), a rule's missing final slash or a default's
    canonical URL with a 308 to a URL built from the caller's ``Host``. The map's rules
    bind these settings when they are added, which is after this (``init_app`` comes
    before the service's blueprints); a redirect routing still makes is a 404 (``_before``)."""
    app.url_map.merge_slashes = False
    app.url_map.redirect_defaults = False
    for rule in app.url_map.iter_rules():
        rule.merge_slashes = False


def _before() -> None:
    """One hook for what every request needs first (fewer hooks, less per-request cost)."""
    if isinstance(request.routing_exception, RequestRedirect):
        request.routing_exception = NotFound()
    requestid.assign()
    logs.start_timer()
    auth.authenticate()


def _after(response: Response) -> Response:
    logs.log_access(response)
    return requestid.echo(response)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Bring the service's tables to the latest migration (none without a database)."""
    database = current_app.extensions.get("oms_db")
    if database is not None:
        database.migrate()
    click.echo(f"{state().service}: schema ready")


@click.command("db-revision")
@click.option("-m", "--message", required=True, help="What the revision changes.")
@with_appcontext
def db_revision(message: str) -> None:
    """Write a migration from what the models have and the database lacks."""
    database = current_app.extensions.get("oms_db")
    if database is None:
        raise click.ClickException(f"{state().service} has no database")
    migrations.revision(database.engine, database.metadata, service=database.service,
                        package=database.package, message=message)


@click.command("secrets-rotate")
@click.option("--chunk", default=1000, show_default=True, type=click.IntRange(1, 100_000),
              help="Rows per transaction.")
@with_appcontext
def secrets_rotate(chunk: int) -> None:
    """Seal every encrypted value (device, product secrets) under the current key
    (secrets.current): values of older keys, and plaintext left from before encryption.
    Chunk by chunk, each its own transaction; safe to run on a live platform and again."""
    database = current_app.extensions.get("oms_db")
    columns = list(encrypted_columns(database.metadata)) if database is not None else []
    if not columns:
        click.echo(f"{state().service}: no encrypted columns")
        return
    with database.engine.connect() as connection:
        for table, column in columns:
            report = rotate(connection, table, column, chunk=chunk)
            click.echo(f"{state().service}: {table.name}.{column.name} under key "
                       f"{state().secrets.current!r}: {report.resealed} resealed, "
                       f"{report.plaintext} plaintext sealed, {report.unchanged} already "
                       f"current, {report.skipped} changed meanwhile")
