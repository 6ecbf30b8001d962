from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
from flask import Flask

from auth_service import apps
from auth_service.app import create_app
from auth_service.db import db
from auth_service.models import App
from oms_shared.testing import app_in_transaction


@pytest.fixture
def config(base_config: dict[str, Any], database_url: str) -> dict[str, Any]:
    return {**base_config, "auth": {"database_url": database_url}}


@pytest.fixture
def app(config: dict[str, Any]) -> Flask:
    with app_in_transaction(create_app, config) as app:
        yield app


@pytest.fixture
def client(app: Flask):
    return app.test_client()


class AppFactory:
    """Makes apps in the test's transaction."""

    def __init__(self, flask_app: Flask) -> None:
        self.flask_app = flask_app

    def __call__(self, tenant: str = "acme", enabled: bool = True) -> App:
        with self.flask_app.app_context(), db.scoped() as session:
            app = apps.create(session=session, tenant=tenant)
            app.enabled = enabled
        return app


@pytest.fixture
def make_app_row(app: Flask) -> AppFactory:
    return AppFactory(app)


def sign(app_id: str, timestamp: str, secret: str) -> str:
    return hashlib.md5(f"{app_id}{timestamp}{secret}".encode()).hexdigest()  # noqa: S324


@pytest.fixture
def signed():
    """A valid token request body for an app row."""

    def body(row: App, timestamp: str | int | None = None, secret: str | None = None) -> dict:
        ts = str(int(time.time())) if timestamp is None else timestamp
        return {"app_id": row.app_id, "timestamp": ts, "sign": sign(row.app_id, str(ts),
                                                                    secret or row.secret)}

    return body
