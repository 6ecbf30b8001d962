"""The command service's data layer under test: its app on each database, every test in a
rolled-back transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from command_service.app import create_app
from command_service.db import db
from oms_shared.testing import app_in_transaction


@pytest.fixture
def app(base_config: dict[str, Any], database_url: str) -> Iterator[Flask]:
    with app_in_transaction(create_app, {**base_config,
                                         "command": {"database_url": database_url}}) as app:
        yield app


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    with app.app_context():
        session = db.sessionmaker()
        yield session
        session.close()
