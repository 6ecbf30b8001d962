from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from oms_shared import OMS
from product_service.db import db
from product_service.models import ProductBase
from product_service.views import api


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    OMS().init_app(app, service="product", config=config)
    db.init_app(app, ProductBase.metadata)
    app.register_blueprint(api.blueprint)
    return app
