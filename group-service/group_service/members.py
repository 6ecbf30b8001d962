"""Queries over a group's members. Functions flush, never commit."""

from __future__ import annotations

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from group_service.models import Group, Member
from oms_shared import NotFound, PageQuery, delete_or_404, paginate, str_id


def get(*, session: Session, group: Group, user_id: str) -> Member | None:
    ident = str_id(user_id)
    return session.get(Member, (group.id, ident)) if ident is not None else None


def get_or_raise(*, session: Session, group: Group, user_id: str) -> Member:
    member = get(session=session, group=group, user_id=user_id)
    if member is None:
        raise NotFound("member", user_id)
    return member


def get_all(*, session: Session, group: Group, query: PageQuery) -> tuple[list[Member], int]:
    """Newest first, over the index (group_id, added_at, user_id)."""
    stmt = (select(Member).where(Member.group_id == group.id)
            .order_by(Member.added_at.desc(), Member.user_id.desc()))
    return paginate(session, stmt, query)


def create(*, session: Session, group: Group, user_id: str) -> Member:
    member = Member(group_id=group.id, user_id=user_id, tenant=group.tenant)
    session.add(member)
    session.flush()
    return member


def delete(*, session: Session, member: Member) -> None:
    """Exactly one of concurrent removals deletes it; the others are 40401."""
    delete_or_404(session, member, resource="member")


def delete_user(*, session: Session, tenant: str, user_id: str) -> int:
    """Every membership of a removed user."""
    result = session.execute(sql_delete(Member).where(Member.tenant == tenant,
                                                      Member.user_id == user_id))
    return result.rowcount or 0
