"""Queries over production batches, within one tenant. Functions flush, never commit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from device_service.models import Batch
from device_service.schemas import BatchList, BatchUpdate
from oms_shared import (
    NotFound,
    contains,
    delete_or_404,
    get_in_tenant,
    get_or_404,
    int_id,
    paginate,
)


def get(*, session: Session, tenant: str, batch_id: int | str) -> Batch | None:
    return get_in_tenant(session, Batch, int_id(batch_id), tenant)


def get_or_raise(*, session: Session, tenant: str, batch_id: int | str) -> Batch:
    return get_or_404(session, Batch, int_id(batch_id), tenant=tenant, resource="batch")


def get_for_update(*, session: Session, tenant: str, batch_id: int | str) -> Batch:
    """The batch, row-locked until the transaction ends (PostgreSQL; SQLite's
    transactions are serialised anyway). Changes to a batch and its devices take this
    lock first, so they never deadlock each other."""
    ident = int_id(batch_id)
    batch = session.scalar(select(Batch).where(Batch.id == ident, Batch.tenant == tenant)
                           .with_for_update().execution_options(populate_existing=True)
                           ) if ident is not None else None
    if batch is None:
        raise NotFound("batch", batch_id)
    return batch


def get_by_batch_no(*, session: Session, tenant: str, batch_no: str) -> Batch | None:
    return session.scalar(select(Batch).where(Batch.tenant == tenant, Batch.batch_no == batch_no))


def get_all(*, session: Session, tenant: str, query: BatchList) -> tuple[list[Batch], int]:
    stmt = select(Batch).where(Batch.tenant == tenant)
    if query.name:
        stmt = stmt.where(contains(Batch.name, query.name))
    if query.batch_no:
        stmt = stmt.where(Batch.batch_no == query.batch_no)
    if query.product_id is not None:
        stmt = stmt.where(Batch.product_id == query.product_id)
    return paginate(session, stmt.order_by(Batch.id.desc()), query)


def create(*, session: Session, batch: Batch) -> Batch:
    session.add(batch)
    session.flush()
    return batch


def update(*, session: Session, batch: Batch, data: BatchUpdate) -> Batch:
    for key, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(batch, key, value)
    session.flush()
    return batch


def delete(*, session: Session, batch: Batch) -> None:
    """Exactly one of concurrent removals deletes it; the others are 40401."""
    delete_or_404(session, batch, resource="batch")
