from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from device_service.app import create_app
from device_service.db import db
from oms_shared import ProductSnapshot
from oms_shared.testing import app_in_transaction


@pytest.fixture
def app(base_config: dict[str, Any], database_url: str) -> Flask:
    config = {**base_config, "device": {"database_url": database_url}}
    with app_in_transaction(create_app, config) as app:
        yield app


@pytest.fixture
def ctx(app: Flask):
    with app.test_request_context():
        yield app


@pytest.fixture
def session(ctx: Flask):
    session = db.sessionmaker()
    yield session
    session.close()


@pytest.fixture
def oms(ctx: Flask):
    return ctx.extensions["oms"]


@pytest.fixture
def product(oms) -> ProductSnapshot:
    """A product as the product service publishes it (no product service needed)."""

    def make(product_id: int = 10000, tenant: str = "t1", status: str = "enable"):
        snapshot = ProductSnapshot(id=product_id, revision=1, tenant=tenant, name="门铃",
                                   product_key=f"pk{product_id}", status=status,
                                   thing_model={"properties": [], "events": [],
                                                "services": []})
        oms.catalog.put(snapshot)
        return snapshot

    return make
