"""Queries over products, always within one tenant. Functions flush, never commit."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oms_shared import (
    Conflict,
    contains,
    delete_or_404,
    get_in_tenant,
    get_or_404,
    int_id,
    paginate,
)
from product_service.models import Product
from product_service.schemas import ProductCreate, ProductList, ProductUpdate

KEY_UNAVAILABLE = ("product_key cannot be used; choose another, or leave it out and a "
                   "random one (128 bits) is generated")


def get(*, session: Session, tenant: str, product_id: int | str) -> Product | None:
    return get_in_tenant(session, Product, int_id(product_id), tenant)


def get_or_raise(*, session: Session, tenant: str, product_id: int | str) -> Product:
    return get_or_404(session, Product, int_id(product_id), tenant=tenant, resource="product")


def get_all(*, session: Session, tenant: str, query: ProductList) -> tuple[list[Product], int]:
    stmt = select(Product).where(Product.tenant == tenant)
    if query.name:
        stmt = stmt.where(contains(Product.name, query.name))
    if query.code:
        stmt = stmt.where(Product.code == query.code)
    if query.status:
        stmt = stmt.where(Product.status == query.status)
    return paginate(session, stmt.order_by(Product.id.desc()), query)


def _check_unique(session: Session, *, tenant: str, code: str | None, product_key: str | None,
                  exclude: int | None = None) -> None:
    if code is not None:
        stmt = select(Product.id).where(Product.tenant == tenant, Product.code == code)
        if session.scalar(stmt.where(Product.id != exclude) if exclude else stmt) is not None:
            raise Conflict("code", f"a product with code {code!r} already exists")
    if product_key is not None:
        stmt = select(Product.id).where(Product.product_key == product_key)
        if session.scalar(stmt) is not None:
            raise _key_unavailable()


def _key_unavailable() -> Conflict:
    """Keys are unique across tenants (devices sign in with them), so a chosen key may be
    refused; the answer is the same whoever holds it, the caller's tenant or another."""
    return Conflict("product_key", KEY_UNAVAILABLE)


def _flush(session: Session, product: Product) -> None:
    """Flush in a savepoint; a unique race lost to another request is a 409 too."""
    try:
        with session.begin_nested():
            session.add(product)
            session.flush()
    except IntegrityError as exc:
        if "product_key" in str(exc.orig):
            raise _key_unavailable() from None
        raise Conflict("code") from None


def create(*, session: Session, tenant: str, data: ProductCreate) -> Product:
    _check_unique(session, tenant=tenant, code=data.code, product_key=data.product_key)
    product = Product(
        tenant=tenant, name=data.name, code=data.code, status=data.status,
        thing_model=data.thing_model,
        product_key=data.product_key or secrets.token_hex(16),  # 128 bits: not guessable
        product_secret=data.product_secret or secrets.token_hex(16),
    )
    _flush(session, product)
    return product


def update(*, session: Session, product: Product, data: ProductUpdate) -> Product:
    changes = data.model_dump(exclude_unset=True, exclude={"product_key"})
    if changes.get("thing_model") is None:
        changes.pop("thing_model", None)
    for key in ("name", "code", "status", "product_secret"):
        if key in changes and changes[key] is None:
            changes.pop(key)
    if "code" in changes and changes["code"] != product.code:
        _check_unique(session, tenant=product.tenant, code=changes["code"], product_key=None,
                      exclude=product.id)
    for key, value in changes.items():
        setattr(product, key, value)
    product.revision = Product.revision + 1  # in SQL: concurrent updates each count
    _flush(session, product)
    session.refresh(product)  # what the row holds now, other requests' changes included
    return product


def delete(*, session: Session, product: Product) -> None:
    """Exactly one of concurrent removals deletes it; the others are 40401."""
    delete_or_404(session, product, resource="product")
