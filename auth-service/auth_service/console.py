"""``oms-apps``, the console entry point: the ``apps`` commands inside the auth
service's app (``flask --app auth_service.app apps ...`` runs the same commands)."""

from __future__ import annotations

import click

from auth_service.app import create_app
from auth_service.cli import command
from oms_shared import OMSError, SettingsError


def main(argv: list[str] | None = None) -> None:
    try:
        app = create_app()
    except SettingsError as exc:
        raise SystemExit(f"error: {exc}") from None
    with app.app_context():
        try:
            command.main(args=argv, prog_name="oms-apps", standalone_mode=False)
        except OMSError as exc:
            raise SystemExit(f"error: {exc.message}") from None
        except click.ClickException as exc:
            exc.show()
            raise SystemExit(exc.exit_code) from None
        except click.exceptions.Abort:
            raise SystemExit(1) from None
