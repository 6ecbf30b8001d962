from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from oms_shared import OMS
from user_service.db import db
from user_service.models import UserBase
from user_service.views import api


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    OMS().init_app(app, service="user", config=config)
    db.init_app(app, UserBase.metadata)
    app.register_blueprint(api.blueprint)
    return app
