"""Queries over users, always within one tenant. Functions flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oms_shared import (
    Conflict,
    NotFound,
    contains,
    delete_or_404,
    get_in_tenant,
    paginate,
    str_id,
)
from user_service.models import User
from user_service.schemas import UserList


def get(*, session: Session, tenant: str, user_id: str) -> User | None:
    return get_in_tenant(session, User, str_id(user_id), tenant)


def get_or_raise(*, session: Session, tenant: str, user_id: str) -> User:
    user = get(session=session, tenant=tenant, user_id=user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


def get_all(*, session: Session, tenant: str, query: UserList) -> tuple[list[User], int]:
    stmt = select(User).where(User.tenant == tenant)
    if query.username:
        stmt = stmt.where(contains(User.username, query.username))
    if query.status:
        stmt = stmt.where(User.status == query.status)
    return paginate(session, stmt.order_by(User.created_at.desc(), User.id.desc()), query)


def get_many(*, session: Session, tenant: str, user_ids: Sequence[str]) -> list[User]:
    """The tenant's users among ``user_ids``; unknown and other tenants' ids are left out."""
    wanted = sorted({k for k in map(str_id, user_ids) if k})
    if not wanted:
        return []
    return list(session.scalars(select(User).where(User.tenant == tenant,
                                                   User.id.in_(wanted))))


def _check_username(session: Session, *, tenant: str, username: str,
                    exclude: str | None = None) -> None:
    stmt = select(User.id).where(User.tenant == tenant, User.username == username)
    if exclude is not None:
        stmt = stmt.where(User.id != exclude)
    if session.scalar(stmt) is not None:
        raise Conflict("username", f"a user named {username!r} already exists")


def _flush(session: Session, user: User) -> None:
    """Flush in a savepoint; a unique race lost to another request is a 409 too."""
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        raise Conflict("username") from None


def create(*, session: Session, tenant: str, username: str, password_hash: str,
           nickname: str, status: str) -> User:
    _check_username(session, tenant=tenant, username=username)
    user = User(tenant=tenant, username=username, password_hash=password_hash,
                nickname=nickname, status=status)
    _flush(session, user)
    return user


def update(*, session: Session, user: User, changes: dict[str, Any]) -> User:
    """Apply ``changes`` (column -> value; ``password_hash``, never a password)."""
    if "username" in changes and changes["username"] != user.username:
        _check_username(session, tenant=user.tenant, username=changes["username"],
                        exclude=user.id)
    for name, value in changes.items():
        setattr(user, name, value)
    _flush(session, user)
    return user


def delete(*, session: Session, user: User) -> None:
    """Exactly one of concurrent removals deletes it; the others are 40401."""
    delete_or_404(session, user, resource="user")


def lock_or_raise(*, session: Session, tenant: str, user_id: str) -> User:
    """The user, its row locked until the transaction ends (a bind naming it waits)."""
    ident = str_id(user_id)
    user = session.scalar(select(User).where(User.id == ident, User.tenant == tenant)
                          .with_for_update()) if ident else None
    if user is None:
        raise NotFound("user", user_id)
    return user
