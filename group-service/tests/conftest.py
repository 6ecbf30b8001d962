"""The group service under test with its two peers served over real HTTP: a real device
app (stocked devices come from real batches) and a stand-in for the user service's
internal endpoint (the user service is built separately)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest
from flask import Flask, request
from pydantic import Field, StrictStr

from device_service.app import create_app as create_device_app
from group_service.app import create_app
from group_service.db import db
from oms_shared import OMS, Api, ProductSnapshot, Schema, current_tenant
from oms_shared.testing import ApiClient, app_in_transaction, serving

PRODUCTS = {"t1": 10000, "t2": 10001}


class UserIds(Schema):
    user_ids: Annotated[list[StrictStr], Field(max_length=1000)]


def user_service_stand_in(config: dict[str, Any], users: dict[str, dict[str, Any]]) -> Flask:
    """STAND-IN for the user service's internal endpoint ``/internal/user/brief``
    (``{"user_ids"}`` → ``{"users": [{id, username, nickname, status}]}``, the caller
    tenant's only), answered from ``users`` (id → fields and ``tenant``)."""
    app = Flask("user_service_stand_in")
    OMS().init_app(app, service="user", config=config)
    api = Api("user_stand_in", __name__)

    @api.post("/internal/user/brief", body=UserIds, returns=dict[str, Any])
    def user_brief(body: UserIds) -> dict[str, Any]:
        found = [users[i] for i in body.user_ids if users.get(i, {}).get("tenant")
                 == current_tenant()]
        return {"users": [{k: u[k] for k in ("id", "username", "nickname", "status")}
                          for u in found]}

    app.register_blueprint(api.blueprint)
    return app


def _record(app: Flask, calls: list[str]) -> None:
    app.before_request(lambda: calls.append(request.path) and None)


@pytest.fixture
def users() -> dict[str, dict[str, Any]]:
    return {}


@pytest.fixture
def user_calls() -> list[str]:
    return []


@pytest.fixture
def device_calls() -> list[str]:
    return []


@pytest.fixture
def device_app(base_config: dict[str, Any], tmp_path: Any) -> Iterator[Flask]:
    app = create_device_app({**base_config,
                             "device": {"database_url": f"sqlite:///{tmp_path / 'device.db'}"}})
    app.extensions["oms_db"].create_all()
    for tenant, product_id in PRODUCTS.items():
        app.extensions["oms"].catalog.put(ProductSnapshot(
            id=product_id, revision=1, tenant=tenant, name="门铃", product_key=f"pk{product_id}",
            status="enable", thing_model={"properties": [], "events": [], "services": []}))
    yield app
    app.extensions["oms_db"].engine.dispose()


@pytest.fixture
def peers(base_config: dict[str, Any], device_app: Flask, users: dict[str, dict[str, Any]],
          user_calls: list[str], device_calls: list[str]) -> Iterator[dict[str, Any]]:
    """The peers' settings for the group app: ``{"device": {"url"}, "user": {"url"}}``."""
    user_app = user_service_stand_in(base_config, users)
    _record(user_app, user_calls)
    _record(device_app, device_calls)
    with serving(device_app) as device_url, serving(user_app) as user_url:
        yield {"device": {"url": device_url}, "user": {"url": user_url}}


@pytest.fixture
def app(base_config: dict[str, Any], database_url: str,
        peers: dict[str, Any]) -> Iterator[Flask]:
    config = {**base_config, **peers, "group": {"database_url": database_url}}
    with app_in_transaction(create_app, config) as app:
        yield app


@pytest.fixture
def api(app: Flask) -> ApiClient:
    return ApiClient(app, tenant="t1")


@pytest.fixture
def other(app: Flask) -> ApiClient:
    """A caller of another tenant."""
    return ApiClient(app, tenant="t2")


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    """A session in the test's rolled-back transaction."""
    with app.app_context():
        session = db.sessionmaker()
        yield session
        session.close()


@pytest.fixture
def user(users: dict[str, dict[str, Any]]) -> Callable[..., str]:
    """Make a user in the stand-in; returns its id."""
    names = itertools.count(1)

    def make(tenant: str = "t1", status: str = "enable") -> str:
        ident = str(uuid.uuid4())
        n = next(names)
        users[ident] = {"id": ident, "tenant": tenant, "username": f"1342424{n:04d}",
                        "nickname": f"nick {n}", "status": status}
        return ident

    return make


@pytest.fixture
def devices(device_app: Flask) -> Callable[..., list[str]]:
    """Produce ``amount`` devices in a real batch of the device app (confirmed into stock
    unless ``stock=False``); returns their ids."""
    numbers = itertools.count(1)

    def make(amount: int = 1, *, tenant: str = "t1", stock: bool = True) -> list[str]:
        client = ApiClient(device_app, tenant=tenant)
        batch = client.data("/oms/produce/submit", {
            "name": "run", "amount": amount, "product_id": PRODUCTS[tenant],
            "batch_no": f"B{next(numbers)}"})
        if stock:
            client.data(f"/oms/produce/confirm/{batch['id']}")
        ids: list[str] = []
        for page in range(1, amount // 500 + 2):
            ids += [d["id"] for d in client.data(f"/oms/produce/device/{batch['id']}",
                                                 {"page": page, "page_size": 500})["list"]]
        assert len(ids) == amount
        return ids

    return make
