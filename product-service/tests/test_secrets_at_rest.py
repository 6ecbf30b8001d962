"""Product secrets at rest (docs/security.md, "Secrets"): the products table holds them
sealed, given or generated, on create and on update; plain SQL reads the rows."""

from __future__ import annotations

from sqlalchemy import text

from oms_shared import state
from product_service import products
from product_service.schemas import ProductCreate, ProductUpdate


def _raw(session, product_id: int) -> str:
    return session.execute(text("SELECT product_secret FROM products WHERE id = :id"),
                           {"id": product_id}).scalar()


def test_the_products_table_holds_no_secret_in_the_clear(session):
    given = products.create(session=session, tenant="t1", data=ProductCreate(
        name="门铃", code="given", product_secret="A5244111BCDEFGDA"))
    made = products.create(session=session, tenant="t1", data=ProductCreate(
        name="门铃", code="made"))
    session.flush()
    keyring = state().secrets  # the service's keyring, which its engine seals with
    for product, secret in ((given, "A5244111BCDEFGDA"), (made, made.product_secret)):
        raw = _raw(session, product.id)
        assert raw.startswith(f"v1:{keyring.current}:") and secret not in raw
    products.update(session=session, product=given, data=ProductUpdate(
        product_secret="f8d70127a0934798f9be1d72b883d840"))
    session.flush()
    raw = _raw(session, given.id)
    assert raw.startswith("v1:") and "f8d70127a0934798f9be1d72b883d840" not in raw
    session.expire_all()
    assert session.get(type(given), given.id).product_secret == "f8d70127a0934798f9be1d72b883d840"
