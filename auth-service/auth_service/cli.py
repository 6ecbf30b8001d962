"""``oms-apps``: manage the apps that may call the API.

Disabling an app or rotating its secret revokes its live tokens at once, on
every service instance (see :mod:`auth_service.flows`).
"""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from auth_service import apps, flows
from auth_service.db import db
from auth_service.models import App
from auth_service.schemas import AppRead
from oms_shared import OPERATOR, TENANT, state


def _credentials(app: App, secret: str | None = None) -> dict[str, str]:
    return {"app_id": app.app_id, "app_secret": secret or app.secret, "tenant": app.tenant,
            "scope": app.scope}


def _emit(data: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data))
    else:
        for key, value in data.items():
            click.echo(f"{key}: {value}")


@click.group("apps", help="Manage the apps that may call the OMS API.")
def command() -> None:
    pass


@command.command()
@click.option("--tenant", required=True, help="The tenant the app's data belongs to.")
@click.option("--name", default="", help="A label for the app.")
@click.option("--operator", is_flag=True,
              help="An operator app: may also call the platform's endpoints (/pms/system).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def create(tenant: str, name: str, operator: bool, as_json: bool) -> None:
    """Create an app and print its app_id, app_secret, tenant and scope (a tenant app
    unless --operator)."""
    with db.scoped() as session:
        app = apps.create(session=session, tenant=tenant, name=name,
                          scope=OPERATOR if operator else TENANT)
        data = _credentials(app)
    _emit(data, as_json)


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def list_apps(as_json: bool) -> None:
    """List apps (never their secrets): app_id, tenant, scope, status, name."""
    with db.scoped() as session:
        rows = [AppRead.model_validate(a).model_dump(mode="json")
                for a in apps.get_all(session=session)]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        status = "enabled" if row["enabled"] else "disabled"
        click.echo(f"{row['app_id']}\t{row['tenant']}\t{row['scope']}\t{status}\t{row['name']}")


def _set_enabled(app_id: str, enabled: bool) -> None:
    with db.scoped() as session:
        flows.set_enabled(session=session, oms=state(), app_id=app_id, enabled=enabled)
    click.echo(f"{app_id} {'enabled' if enabled else 'disabled; its tokens are revoked'}")


@command.command()
@click.argument("app_id")
@with_appcontext
def disable(app_id: str) -> None:
    """Disable an app and revoke its live tokens."""
    _set_enabled(app_id, False)


@command.command()
@click.argument("app_id")
@with_appcontext
def enable(app_id: str) -> None:
    """Enable an app again."""
    _set_enabled(app_id, True)


@command.command("rotate-secret")
@click.argument("app_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def rotate_secret(app_id: str, as_json: bool) -> None:
    """Give an app a new secret and revoke its live tokens."""
    with db.scoped() as session:
        app, secret = flows.rotate_secret(session=session, oms=state(), app_id=app_id)
        data = _credentials(app, secret)
    _emit(data, as_json)


@command.command()
@click.option("--tenant", default="default", help="Tenant of the default app.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_appcontext
def bootstrap(tenant: str, as_json: bool) -> None:
    """Create the default app if missing (run init-db first); print its credentials."""
    with db.scoped() as session:
        app, created = flows.ensure_default(session=session, tenant=tenant)
        data = {**_credentials(app), "created": created}
    _emit(data, as_json)
