"""The product data layer on PostgreSQL and SQLite."""

from __future__ import annotations

import re

import pytest

from oms_shared import Conflict
from product_service import products
from product_service.schemas import ProductCreate, ProductList, ProductUpdate


def _create(session, tenant="t1", **fields):
    body = {"name": "门铃", "code": "c1", **fields}
    return products.create(session=session, tenant=tenant, data=ProductCreate(**body))


def test_ids_start_at_10000(session):
    """Exactly 10000 on a new database: shared/tests/test_migrations.py. Here the
    PostgreSQL sequence is shared by the session's tests (rollbacks do not undo it)."""
    first, second = _create(session, code="a"), _create(session, code="b")
    assert first.id >= 10000
    assert second.id == first.id + 1


def test_key_and_secret_are_generated_when_not_given(session):
    product = _create(session)
    assert re.fullmatch(r"[0-9a-f]{32}", product.product_key)
    assert re.fullmatch(r"[0-9a-f]{32}", product.product_secret)
    other = _create(session, code="c2")
    assert other.product_key != product.product_key
    assert other.product_secret != product.product_secret


def test_code_is_unique_within_a_tenant_only(session):
    _create(session, code="x")
    with pytest.raises(Conflict) as caught:
        _create(session, code="x")
    assert caught.value.data == {"field": "code"}
    assert _create(session, tenant="t2", code="x").code == "x"


def test_product_key_is_unique_across_tenants(session):
    _create(session, code="a", product_key="key-0001")
    with pytest.raises(Conflict) as caught:
        _create(session, tenant="t2", code="b", product_key="key-0001")
    assert caught.value.data == {"field": "product_key"}


def test_a_taken_key_is_refused_alike_whoever_holds_it(session):
    """The answer must not tell a tenant that another tenant holds a key."""
    _create(session, code="a", product_key="key-0001")
    answers = []
    for tenant in ("t1", "t2"):  # the holder itself, then another tenant
        with pytest.raises(Conflict) as caught:
            _create(session, tenant=tenant, code=f"other-{tenant}", product_key="key-0001")
        answers.append((caught.value.message, caught.value.data))
    assert answers[0] == answers[1]
    message = answers[0][0].lower()
    assert not any(word in message for word in ("taken", "exists", "tenant", "in use", "held"))


def test_another_tenants_product_is_missing(session):
    product = _create(session)
    assert products.get(session=session, tenant="t1", product_id=str(product.id)) is product
    assert products.get(session=session, tenant="t2", product_id=str(product.id)) is None
    assert products.get(session=session, tenant="t1", product_id="abc") is None
    assert products.get(session=session, tenant="t1", product_id="9" * 40) is None


def test_list_filters_and_pages(session):
    _create(session, name="门铃 A", code="a")
    _create(session, name="门铃 B", code="b", status="disable")
    _create(session, name="lamp 100%", code="c")
    _create(session, tenant="t2", name="门铃 other", code="a")

    def names(**query):
        rows, total = products.get_all(session=session, tenant="t1", query=ProductList(**query))
        return sorted(p.name for p in rows), total

    assert names(name="门铃") == (["门铃 A", "门铃 B"], 2)
    assert names(name="100%") == (["lamp 100%"], 1)
    assert names(name="%") == (["lamp 100%"], 1)
    assert names(code="b") == (["门铃 B"], 1)
    assert names(status="disable") == (["门铃 B"], 1)
    rows, total = products.get_all(session=session, tenant="t1",
                                  query=ProductList(page=2, page_size=2))
    assert total == 3
    assert len(rows) == 1


def test_update_checks_the_code(session):
    first = _create(session, code="a")
    _create(session, code="b")
    with pytest.raises(Conflict):
        products.update(session=session, product=first, data=ProductUpdate(code="b"))
    updated = products.update(session=session, product=first,
                             data=ProductUpdate(code="a2", status="disable",
                                                product_secret="A5244111BCDEFGDA"))
    assert (updated.code, updated.status, updated.product_secret) == (
        "a2", "disable", "A5244111BCDEFGDA")


def test_thing_model_is_stored_in_full_form(session):
    product = _create(session, thing_model='{"events": ["switchon"]}')
    session.flush()
    session.expire_all()
    again = products.get(session=session, tenant="t1", product_id=product.id)
    assert again.thing_model["events"] == [{"identifier": "switchon", "name": "switchon",
                                            "type": "info"}]


def test_a_product_without_a_model_has_an_empty_one(session):
    assert _create(session).thing_model == {"properties": [], "events": [], "services": []}


def test_delete(session):
    product = _create(session)
    products.delete(session=session, product=product)
    assert products.get(session=session, tenant="t1", product_id=product.id) is None
