"""Product workflows that reach beyond the product table: device counts from the
device service, and the snapshot other services read (``oms_shared.ProductCatalog``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from oms_shared import (
    InvalidState,
    OMSState,
    ProductDisabled,
    ProductSnapshot,
    end_read,
    int_id,
    on_commit,
    on_finish,
    publish,
)
from product_service import products
from product_service.models import Product
from product_service.schemas import ProductCreate, ProductList, ProductUpdate


def snapshot(product: Product) -> ProductSnapshot:
    return ProductSnapshot(id=product.id, revision=product.revision, tenant=product.tenant,
                           name=product.name,
                           product_key=product.product_key, status=product.status,
                           thing_model=product.thing_model)


def _publish(session: Session, oms: OMSState, product: Product) -> None:
    entry = snapshot(product)
    on_commit(session, lambda: oms.catalog.put(entry))


def device_counts(oms: OMSState, product_ids: list[int]) -> dict[int, int]:
    """How many devices each product has, from the device service (one call)."""
    if not product_ids:
        return {}
    data = oms.client.post("device", "/internal/device/counts",
                           {"product_ids": product_ids}, idempotent=True)
    return {int(k): int(v) for k, v in data["counts"].items()}


def _count_one(oms: OMSState, product_id: str) -> int:
    """Asked before the transaction starts, so no lock is held across the call.
    The device service counts the caller's tenant only: another tenant's id gives 0."""
    ident = int_id(product_id)
    return device_counts(oms, [ident]).get(ident, 0) if ident is not None else 0


def get_all(*, session: Session, oms: OMSState, tenant: str, query: ProductList) -> dict:
    rows, total = products.get_all(session=session, tenant=tenant, query=query)
    end_read(session)  # no lock (SQLite's is database-wide) across the peer call
    counts = device_counts(oms, [p.id for p in rows])
    for product in rows:
        product.device_count = counts.get(product.id, 0)
    return {"list": rows, "total": total, "page": query.page, "page_size": query.page_size}


def get(*, session: Session, oms: OMSState, tenant: str, product_id: str) -> Product:
    count = _count_one(oms, product_id)
    product = products.get_or_raise(session=session, tenant=tenant, product_id=product_id)
    product.device_count = count
    return product


def create(*, session: Session, oms: OMSState, tenant: str, data: ProductCreate) -> Product:
    product = products.create(session=session, tenant=tenant, data=data)
    _publish(session, oms, product)
    product.device_count = 0
    return product


def update(*, session: Session, oms: OMSState, tenant: str, product_id: str,
           data: ProductUpdate) -> Product:
    count = _count_one(oms, product_id)
    product = products.get_or_raise(session=session, tenant=tenant, product_id=product_id)
    was_enabled = product.status == "enable"
    products.update(session=session, product=product, data=data)
    _publish(session, oms, product)
    if was_enabled and product.status == "disable":  # its connected devices are cut off
        publish(session, oms.redis, oms.keys, ProductDisabled(tenant=tenant,
                                                              product_id=product.id))
    product.device_count = count
    return product


def remove(*, session: Session, oms: OMSState, tenant: str, product_id: str) -> None:
    """Refused while the product has devices, or while a batch of it is being produced
    (``ProductGuard`` keeps the count and the delete from racing a submit)."""
    product = products.get_or_raise(session=session, tenant=tenant, product_id=product_id)
    end_read(session)  # no lock across the peer call below
    oms.guard.start_removing(product.id)
    on_finish(session, lambda: oms.guard.stop_removing(product.id))
    count = device_counts(oms, [product.id]).get(product.id, 0)
    if count:
        raise InvalidState(f"product {product.id} still has {count} devices; remove them first")
    products.delete(session=session, product=product)
    on_commit(session, lambda: oms.catalog.forget(product.id))
