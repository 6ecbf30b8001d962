"""OMS group service."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from group_service.db import db
from group_service.models import GroupBase
from group_service.views import api
from oms_shared import OMS


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    OMS().init_app(app, service="group", config=config)
    db.init_app(app, GroupBase.metadata)
    app.register_blueprint(api.blueprint)
    return app
