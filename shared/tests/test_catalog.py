"""The product snapshot cache that sits on the device service's command path."""

from __future__ import annotations

import uuid

import pytest

from oms_shared import Keys
from oms_shared._catalog import ProductCatalog, ProductSnapshot, fetch_product
from oms_shared._client import ServiceClient
from oms_shared._errors import NotFound, Unavailable
from oms_shared._settings import load_settings


def _snapshot(status="enable", tenant="t1", product_id=10000, revision=1):
    return ProductSnapshot(id=product_id, revision=revision, tenant=tenant, name="门铃",
                           product_key="pk",
                           status=status, thing_model={"properties": [], "events": [],
                                                       "services": []})


@pytest.fixture
def catalog(redis_client, redis_prefix):
    return ProductCatalog(redis_client, Keys(f"{redis_prefix}:cat-{uuid.uuid4().hex[:8]}"))


@pytest.fixture
def offline_client():
    """A client whose product service is unreachable: any call would fail."""
    settings = load_settings({"product": {"url": "http://127.0.0.1:1"}},
                             environ={"OMS_JWT__SECRET": "s" * 40})
    return ServiceClient(settings, retries=0)


def test_a_cached_snapshot_needs_no_call(catalog, offline_client):
    catalog.put(_snapshot())
    found = fetch_product(catalog=catalog, client=offline_client, product_id=10000, tenant="t1")
    assert found.product_key == "pk"
    assert found.enabled


def test_another_tenant_sees_nothing(catalog, offline_client):
    catalog.put(_snapshot(tenant="t2"))
    with pytest.raises(NotFound):
        fetch_product(catalog=catalog, client=offline_client, product_id=10000, tenant="t1")


def test_a_removed_product_stays_removed(catalog, offline_client):
    catalog.put(_snapshot())
    catalog.forget(10000)
    with pytest.raises(NotFound):
        fetch_product(catalog=catalog, client=offline_client, product_id=10000, tenant="t1")
    catalog.put_if_absent(_snapshot())  # a late reader's fill cannot bring it back
    assert catalog.get(10000) == "gone"


def test_the_owners_write_wins_over_a_readers_fill(catalog):
    catalog.put(_snapshot(status="disable", revision=2))
    catalog.put_if_absent(_snapshot(status="enable"))  # fetched before the change
    assert catalog.get(10000).status == "disable"
    assert catalog.put(_snapshot(status="enable", revision=3))
    assert catalog.get(10000).status == "enable"


def test_an_older_revision_never_replaces_a_newer_one(catalog):
    """Two updates whose after-commit writes arrive in the wrong order."""
    assert catalog.put(_snapshot(status="disable", revision=5))
    assert not catalog.put(_snapshot(status="enable", revision=4))
    assert catalog.get(10000).status == "disable"
    catalog.forget(10000)
    assert not catalog.put(_snapshot(revision=9))  # removed stays removed


def test_a_miss_asks_the_product_service(catalog, offline_client):
    with pytest.raises(Unavailable):
        fetch_product(catalog=catalog, client=offline_client, product_id=10001, tenant="t1")


@pytest.fixture
def guard(redis_client, redis_prefix):
    from oms_shared._catalog import ProductGuard

    return ProductGuard(redis_client, Keys(f"{redis_prefix}:guard-{uuid.uuid4().hex[:8]}"))


def test_a_removal_waits_for_a_batch_being_produced(guard):
    from oms_shared._errors import InvalidState

    guard.start_producing(10000)
    with pytest.raises(InvalidState, match="being produced"):
        guard.start_removing(10000)
    guard.stop_producing(10000)
    guard.start_removing(10000)  # now free
    with pytest.raises(InvalidState, match="being removed"):
        guard.start_producing(10000)
    guard.stop_removing(10000)
    guard.start_producing(10000)
    guard.stop_producing(10000)


def test_interleavings_never_let_both_through(guard):
    """Whatever the order of the four steps, a submit and a removal never both pass."""
    from oms_shared._errors import InvalidState

    for removal_first in (True, False):
        passed = []
        steps = [("remove", guard.start_removing), ("produce", guard.start_producing)]
        for name, step in (steps if removal_first else steps[::-1]):
            try:
                step(10001)
                passed.append(name)
            except InvalidState:
                pass
        assert len(passed) == 1
        guard.stop_removing(10001)
        if "produce" in passed:
            guard.stop_producing(10001)
