"""The seam the device service uses: ``oms.bindings.role(...)`` (``BindingCache``),
filled from this service's ``/internal/user/bindings/{device_id}`` served over HTTP,
and invalidated at once by every change of bindings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from device_service.app import create_app as create_device_app
from oms_shared import DevicesRemoved
from oms_shared.testing import ApiClient, serving
from user_service import workers

FILL = "/internal/user/bindings/"


@pytest.fixture
def caller(base_config: dict[str, Any], tmp_path: Any, live_app: Flask) -> Iterator[Flask]:
    """A device app (the reader) pointed at the user app served over real HTTP."""
    with serving(live_app) as user_url:
        app = create_device_app({**base_config, "user": {"url": user_url},
                                 "device": {"database_url": f"sqlite:///{tmp_path / 'c.db'}"}})
        yield app
        app.extensions["oms_db"].engine.dispose()


@pytest.fixture
def role(caller: Flask, live_api: ApiClient) -> Callable[..., str | None]:
    def ask(user_id: str, device_id: str, *, api: ApiClient = live_api) -> str | None:
        with caller.test_request_context(headers={"Token": api.token}):
            return caller.extensions["oms"].bindings.role(tenant=api.tenant, user_id=user_id,
                                                          device_id=device_id)

    return ask


def fills(app: Flask) -> int:
    return sum(path.startswith(FILL) for path in app.config["CALLS"])


def test_every_change_of_bindings_is_seen_at_once(live_api, live_app, role, stock):
    ann = live_api.data("/oms/user/add", {"username": "ann", "password": "123456"})
    bob = live_api.data("/oms/user/add", {"username": "bob", "password": "123456"})
    device = stock()[0]
    assert role(ann["id"], device) is None
    live_api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device,
                                     "role": "owner"})
    assert role(ann["id"], device) == "owner"
    live_api.data("/oms/user/bind", {"user_id": bob["id"], "device_id": device})
    assert role(bob["id"], device) == "member"
    live_api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device})
    assert role(ann["id"], device) == "member"
    live_api.data("/oms/user/unbind", {"user_id": bob["id"], "device_id": device})
    assert role(bob["id"], device) is None
    live_api.data(f"/oms/user/remove/{ann['id']}")
    assert role(ann["id"], device) is None
    live_api.data("/oms/user/bind", {"user_id": bob["id"], "device_id": device})
    assert role(bob["id"], device) == "member"
    workers.apply_devices_removed(live_app, DevicesRemoved(tenant="t1", product_id=1,
                                                           device_ids=[device]))
    assert role(bob["id"], device) is None


def test_answers_come_from_the_cache_until_a_change(live_api, live_app, role, stock):
    ann = live_api.data("/oms/user/add", {"username": "ann", "password": "123456"})
    device = stock()[0]
    live_api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device})
    before = fills(live_app)
    assert [role(ann["id"], device) for _ in range(5)] == ["member"] * 5
    assert fills(live_app) == before + 1
    live_api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device})  # no change
    assert role(ann["id"], device) == "member" and fills(live_app) == before + 1
    live_api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device,
                                     "role": "owner"})
    assert role(ann["id"], device) == "owner" and fills(live_app) == before + 2


def test_another_tenant_is_never_bound(live_api, live_app, role, stock):
    ann = live_api.data("/oms/user/add", {"username": "ann", "password": "123456"})
    device = stock()[0]
    live_api.data("/oms/user/bind", {"user_id": ann["id"], "device_id": device})
    assert role(ann["id"], device, api=ApiClient(live_app, tenant="t2")) is None
    assert role(ann["id"], device) == "member"
    assert role(ann["id"], "00000000-0000-0000-0000-000000000000") is None
