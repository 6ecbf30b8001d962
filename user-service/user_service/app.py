from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from oms_shared import OMS


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The user service; its endpoints are not built yet, so it answers 404/40400."""
    app = Flask(__name__)
    OMS().init_app(app, service="user", config=config)
    return app
