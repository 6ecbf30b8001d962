"""Queries over devices, within one tenant. Functions flush, never commit."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from device_service.models import Batch, Device
from device_service.schemas import DeviceList, DeviceUpdate
from oms_shared import (
    PageQuery,
    contains,
    delete_or_404,
    get_in_tenant,
    get_or_404,
    paginate,
    str_id,
)

IN_STOCK = ("inactive", "online", "offline", "disabled")


def get(*, session: Session, tenant: str, device_id: str) -> Device | None:
    return get_in_tenant(session, Device, str_id(device_id), tenant)


def get_or_raise(*, session: Session, tenant: str, device_id: str) -> Device:
    return get_or_404(session, Device, str_id(device_id), tenant=tenant, resource="device")


def get_all(*, session: Session, tenant: str, query: DeviceList) -> tuple[list[Device], int]:
    """Devices in stock (a pending batch's devices are not listed)."""
    stmt = select(Device).where(Device.tenant == tenant)
    stmt = stmt.where(Device.status == query.status) if query.status else stmt.where(
        Device.status.in_(IN_STOCK))
    if query.product_id is not None:
        stmt = stmt.where(Device.product_id == query.product_id)
    if query.name:
        stmt = stmt.where(contains(Device.name, query.name))
    if query.device_name:
        stmt = stmt.where(Device.device_name == query.device_name)
    if query.batch_no:
        stmt = stmt.where(Device.batch_no == query.batch_no)
    return paginate(session, stmt.order_by(Device.created_at.desc(), Device.batch_id.desc(),
                                           Device.seq), query)


def get_batch_page(*, session: Session, batch_id: int,
                   query: PageQuery) -> tuple[list[Device], int]:
    stmt = select(Device).where(Device.batch_id == batch_id).order_by(Device.seq)
    return paginate(session, stmt, query)


CSV_COLUMNS = (Device.id, Device.product_key, Device.device_name, Device.device_secret,
               Device.batch_no)
#: Every device secret is this many hex characters (``flows``, the one place that makes
#: them). The CSV's size is counted in SQL, where a secret is only its sealed form.
SECRET_BYTES = 16
SECRET_LENGTH = 2 * SECRET_BYTES


def csv_size(*, session: Session, batch_id: int) -> tuple[int, int]:
    """How many devices the batch has and how many bytes their CSV lines take (every
    column is ASCII and never needs quoting: ids, keys, hex and batch numbers; the
    secret, sealed in the table, counts as the :data:`SECRET_LENGTH` characters it is
    in the clear)."""
    line = sum((func.length(column) for column in CSV_COLUMNS
                if column is not Device.device_secret),
               start=len(CSV_COLUMNS) + SECRET_LENGTH)
    count, size = session.execute(select(func.count(), func.coalesce(func.sum(line), 0))
                                  .where(Device.batch_id == batch_id)).one()
    return int(count), int(size)


def get_batch_chunk(*, session: Session, tenant: str, batch_id: int, batch_no: str,
                    after_seq: int, size: int) -> list[tuple[str, str, str, str, str, int]]:
    """One keyset chunk of a batch for the CSV: cheap at any depth. Scoped to the tenant
    and to the batch as it was (its number too), so a batch removed meanwhile yields
    nothing, and no other batch, whoever's, can ever take its place."""
    stmt = (select(*CSV_COLUMNS, Device.seq)
            .join(Batch, Batch.id == Device.batch_id)
            .where(Batch.id == batch_id, Batch.tenant == tenant, Batch.batch_no == batch_no,
                   Device.batch_id == batch_id, Device.tenant == tenant,
                   Device.seq > after_seq)
            .order_by(Device.seq).limit(size))
    return [tuple(row) for row in session.execute(stmt)]


def get_many(*, session: Session, tenant: str, device_ids: Iterable[str]) -> list[Device]:
    """The tenant's devices among these ids, in any status (others are left out)."""
    ids = [i for i in set(device_ids) if str_id(i) is not None]
    if not ids:
        return []
    return list(session.scalars(select(Device).where(Device.tenant == tenant,
                                                     Device.id.in_(ids))))


def count_by_product(*, session: Session, tenant: str,
                     product_ids: Iterable[int]) -> dict[int, int]:
    ids = list(product_ids)
    stmt = (select(Device.product_id, func.count()).where(Device.tenant == tenant,
                                                        Device.product_id.in_(ids))
            .group_by(Device.product_id))
    counts = {product_id: 0 for product_id in ids}
    counts.update({product_id: count for product_id, count in session.execute(stmt)})
    return counts


def ids_in_batch(*, session: Session, batch_id: int) -> list[str]:
    return list(session.scalars(select(Device.id).where(Device.batch_id == batch_id)))


def update(*, session: Session, device: Device, data: DeviceUpdate) -> Device:
    for key, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(device, key, value)
    session.flush()
    return device


def delete(*, session: Session, device: Device) -> None:
    """Exactly one of concurrent removals deletes it; the others are 40401."""
    delete_or_404(session, device, resource="device")


def delete_batch_devices(*, session: Session, batch_id: int) -> None:
    session.execute(sql_delete(Device).where(Device.batch_id == batch_id))
