"""Queries over the devices a group holds. Functions flush, never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete as sql_delete
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from group_service.models import Group, GroupDevice
from oms_shared import PageQuery, paginate, utcnow

CHUNK = 500  # ids per IN (...) list


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start:start + CHUNK])


def held(*, session: Session, group: Group, device_ids: Sequence[str]) -> set[str]:
    """Which of these devices the group already holds."""
    found: set[str] = set()
    for chunk in _chunks(device_ids):
        found.update(session.scalars(select(GroupDevice.device_id).where(
            GroupDevice.group_id == group.id, GroupDevice.device_id.in_(chunk))))
    return found


def get_all(*, session: Session, group: Group,
            query: PageQuery) -> tuple[list[GroupDevice], int]:
    """Newest first, over the index (group_id, added_at, device_id)."""
    stmt = (select(GroupDevice).where(GroupDevice.group_id == group.id)
            .order_by(GroupDevice.added_at.desc(), GroupDevice.device_id.desc()))
    return paginate(session, stmt, query)


def create_many(*, session: Session, group: Group, device_ids: Sequence[str]) -> None:
    """One executemany for the lot (Core, not the ORM: up to 1,000 rows)."""
    if not device_ids:
        return
    now = utcnow()
    session.execute(insert(GroupDevice.__table__), [
        {"group_id": group.id, "device_id": i, "tenant": group.tenant, "added_at": now}
        for i in device_ids])


def delete_many(*, session: Session, group: Group, device_ids: Sequence[str]) -> set[str]:
    """The devices this transaction took out of the group (``DELETE ... RETURNING``): of
    concurrent removals of one device, only one gets it back (the others find it gone,
    after waiting for its row on PostgreSQL)."""
    removed: set[str] = set()
    for chunk in _chunks(device_ids):
        removed.update(session.scalars(
            sql_delete(GroupDevice).where(GroupDevice.group_id == group.id,
                                          GroupDevice.device_id.in_(chunk))
            .returning(GroupDevice.device_id),
            execution_options={"synchronize_session": False}))
    return removed


def delete_devices(*, session: Session, tenant: str, device_ids: Sequence[str]) -> None:
    """Removed devices leave every group of the tenant."""
    for chunk in _chunks(device_ids):
        session.execute(sql_delete(GroupDevice).where(GroupDevice.tenant == tenant,
                                                      GroupDevice.device_id.in_(chunk)))
