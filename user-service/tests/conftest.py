"""The user app under test with the device service a real HTTP peer (for device
briefs), and helpers that make stocked devices through the device app's API."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, request

from device_service.app import create_app as create_device_app
from oms_shared import ProductSnapshot, parse_thing_model
from oms_shared.testing import ApiClient, app_in_transaction, serving
from user_service.app import create_app

MODEL = parse_thing_model('{"properties": ["power"]}').as_dict()


@pytest.fixture
def device_app(base_config: dict[str, Any], tmp_path: Any) -> Iterator[Flask]:
    """A real device app; the paths it was asked for are in ``app.config["CALLS"]``."""
    app = create_device_app({**base_config,
                             "device": {"database_url": f"sqlite:///{tmp_path / 'device.db'}"}})
    app.extensions["oms_db"].create_all()
    calls: list[str] = []
    app.config["CALLS"] = calls
    app.before_request(lambda: calls.append(request.path))  # append returns None
    yield app
    app.extensions["oms_db"].engine.dispose()


@pytest.fixture
def device_url(device_app: Flask) -> Iterator[str]:
    with serving(device_app) as url:
        yield url


@pytest.fixture
def app(base_config: dict[str, Any], database_url: str, device_url: str) -> Iterator[Flask]:
    config = {**base_config, "user": {"database_url": database_url},
              "device": {"url": device_url}}
    with app_in_transaction(create_app, config) as app:
        yield app


@pytest.fixture
def api(app: Flask) -> ApiClient:
    return ApiClient(app, tenant="t1")


@pytest.fixture
def stock(device_app: Flask) -> Callable[..., list[str]]:
    """``stock(amount, tenant=, confirm=)``: ids of new devices, in stock when confirmed
    (else ``produced``: in a pending batch)."""
    numbers = itertools.count(20000)

    def make(amount: int = 1, *, tenant: str = "t1", confirm: bool = True) -> list[str]:
        pid = next(numbers)
        device_app.extensions["oms"].catalog.put(ProductSnapshot(
            id=pid, revision=1, tenant=tenant, name="lamp", product_key=f"key{pid}",
            status="enable", thing_model=MODEL))
        client = ApiClient(device_app, tenant=tenant)
        batch = client.data("/oms/produce/submit", {"name": "run", "amount": amount,
                                                    "product_id": pid, "batch_no": f"B{pid}"})
        if confirm:
            client.data(f"/oms/produce/confirm/{batch['id']}")
        page = client.data(f"/oms/produce/device/{batch['id']}", {"page_size": 500})
        return [d["id"] for d in page["list"]]

    return make


@pytest.fixture
def add_user(api: ApiClient) -> Callable[..., dict[str, Any]]:
    def add(username: str, *, client: ApiClient | None = None, **extra: Any) -> dict[str, Any]:
        return (client or api).data("/oms/user/add",
                                    {"username": username, "password": "secret-1", **extra})

    return add


@pytest.fixture
def live_app(base_config: dict[str, Any], empty_database_url: str,
             device_url: str) -> Iterator[Flask]:
    """A user app whose requests really commit, on a fresh database (for races between
    transactions and for serving it to a peer); the paths it served in ``CALLS``."""
    app = create_app({**base_config, "user": {"database_url": empty_database_url},
                      "device": {"url": device_url}})
    app.extensions["oms_db"].create_all()
    calls: list[str] = []
    app.config["CALLS"] = calls
    app.before_request(lambda: calls.append(request.path))
    yield app
    app.extensions["oms_db"].engine.dispose()


@pytest.fixture
def live_api(live_app: Flask) -> ApiClient:
    return ApiClient(live_app, tenant="t1")
