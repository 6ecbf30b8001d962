from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from device_service.db import db
from device_service.models import DeviceBase
from device_service.views import api
from oms_shared import OMS


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    OMS().init_app(app, service="device", config=config)
    db.init_app(app, DeviceBase.metadata)
    app.register_blueprint(api.blueprint)
    return app
