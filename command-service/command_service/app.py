"""OMS command service: commands that reach devices, and their record."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from command_service.db import db
from command_service.models import CommandBase
from command_service.views import api
from oms_shared import OMS


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    OMS().init_app(app, service="command", config=config)
    db.init_app(app, CommandBase.metadata)
    app.register_blueprint(api.blueprint)
    return app
