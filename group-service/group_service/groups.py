"""Queries over groups, always within one tenant. Functions flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from group_service.models import Group, GroupDevice, Member
from group_service.schemas import GroupList
from oms_shared import (
    Conflict,
    NotFound,
    PageQuery,
    contains,
    delete_or_404,
    paginate,
    str_id,
    utcnow,
)

NEWEST_FIRST = (Group.created_at.desc(), Group.id.desc())


def get(*, session: Session, tenant: str, group_id: str, lock: bool = False) -> Group | None:
    """The tenant's group; ``lock`` holds it (FOR KEY SHARE on PostgreSQL) until the
    transaction ends, so a concurrent removal of the group waits for rows added to it."""
    ident = str_id(group_id)
    if ident is None:
        return None
    stmt = select(Group).where(Group.id == ident, Group.tenant == tenant)
    if lock:
        stmt = stmt.with_for_update(key_share=True)
    return session.scalars(stmt).first()


def get_or_raise(*, session: Session, tenant: str, group_id: str, lock: bool = False) -> Group:
    group = get(session=session, tenant=tenant, group_id=group_id, lock=lock)
    if group is None:
        raise NotFound("group", group_id)
    return group


def with_counts(session: Session, groups: Sequence[Group]) -> list[Group]:
    """Fill ``member_count`` and ``device_count``: two GROUP BY queries for the whole page."""
    ids = [g.id for g in groups]
    if not ids:
        return []
    members: dict[str, int] = {g: n for g, n in session.execute(
        select(Member.group_id, func.count()).where(Member.group_id.in_(ids))
        .group_by(Member.group_id))}
    devices: dict[str, int] = {g: n for g, n in session.execute(
        select(GroupDevice.group_id, func.count()).where(GroupDevice.group_id.in_(ids))
        .group_by(GroupDevice.group_id))}
    for group in groups:
        group.member_count = members.get(group.id, 0)
        group.device_count = devices.get(group.id, 0)
    return list(groups)


def get_all(*, session: Session, tenant: str, query: GroupList) -> tuple[list[Group], int]:
    stmt = select(Group).where(Group.tenant == tenant)
    if query.name:
        stmt = stmt.where(contains(Group.name, query.name))
    rows, total = paginate(session, stmt.order_by(*NEWEST_FIRST), query)
    return with_counts(session, rows), total


def get_all_of_user(*, session: Session, tenant: str, user_id: str,
                    query: PageQuery) -> tuple[list[Group], int]:
    """Groups the user is a member or the owner of, newest first."""
    ident = str_id(user_id) or ""
    memberships = select(Member.group_id).where(Member.user_id == ident)
    stmt = select(Group).where(Group.tenant == tenant,
                               or_(Group.owner_id == ident, Group.id.in_(memberships)))
    rows, total = paginate(session, stmt.order_by(*NEWEST_FIRST), query)
    return with_counts(session, rows), total


def get_all_of_device(*, session: Session, tenant: str, device_id: str,
                      query: PageQuery) -> tuple[list[Group], int]:
    """Groups holding the device, newest first."""
    holders = select(GroupDevice.group_id).where(GroupDevice.device_id == (str_id(device_id) or ""))
    stmt = select(Group).where(Group.tenant == tenant, Group.id.in_(holders))
    rows, total = paginate(session, stmt.order_by(*NEWEST_FIRST), query)
    return with_counts(session, rows), total


def _check_name(session: Session, *, tenant: str, name: str, exclude: str | None = None) -> None:
    stmt = select(Group.id).where(Group.tenant == tenant, Group.name == name)
    if exclude is not None:
        stmt = stmt.where(Group.id != exclude)
    if session.scalar(stmt) is not None:
        raise Conflict("name", f"a group named {name!r} already exists")


def _flush(session: Session, group: Group) -> None:
    """Flush in a savepoint; a unique race lost to another request is a 409 too."""
    try:
        with session.begin_nested():
            session.add(group)
            session.flush()
    except IntegrityError:
        raise Conflict("name", f"a group named {group.name!r} already exists") from None


def create(*, session: Session, tenant: str, name: str, owner_id: str) -> Group:
    _check_name(session, tenant=tenant, name=name)
    group = Group(tenant=tenant, name=name, owner_id=owner_id)
    _flush(session, group)
    return with_counts(session, [group])[0]


def update(*, session: Session, group: Group, name: str | None,
           owner_id: str | None) -> Group:
    if name is not None and name != group.name:
        _check_name(session, tenant=group.tenant, name=name, exclude=group.id)
        group.name = name
    if owner_id is not None:
        group.owner_id = owner_id
    _flush(session, group)
    return with_counts(session, [group])[0]


def delete(*, session: Session, group: Group) -> None:
    """The group, its members and its devices (the foreign keys cascade); exactly one of
    concurrent removals deletes it, the others are 40401."""
    delete_or_404(session, group, resource="group")


def clear_owner(*, session: Session, tenant: str, owner_id: str) -> int:
    """Groups owned by a removed user keep going without an owner."""
    result = session.execute(sql_update(Group).where(Group.tenant == tenant,
                                                     Group.owner_id == owner_id)
                             .values(owner_id=None, updated_at=utcnow()))
    return result.rowcount or 0
