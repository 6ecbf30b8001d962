from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from oms_shared.testing import app_in_transaction
from product_service.app import create_app
from product_service.db import db


@pytest.fixture
def app(base_config: dict[str, Any], database_url: str) -> Flask:
    config = {**base_config, "product": {"database_url": database_url}}
    with app_in_transaction(create_app, config) as app:
        yield app


@pytest.fixture
def session(app: Flask):
    """A session in the test's rolled-back transaction."""
    with app.app_context():
        session = db.sessionmaker()
        yield session
        session.close()
