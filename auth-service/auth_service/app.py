from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from auth_service.cli import command as apps_command
from auth_service.db import db
from auth_service.models import AuthBase
from auth_service.views import api
from oms_shared import OMS


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    OMS().init_app(app, service="auth", config=config)
    db.init_app(app, AuthBase.metadata)
    app.register_blueprint(api.blueprint)
    app.cli.add_command(apps_command)
    return app
