"""Queries over bindings (a user bound to a device), always within one tenant.
Functions flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oms_shared import InvalidState, NotFound, PageQuery, delete_or_404, paginate, str_id
from user_service.models import Binding

CHUNK = 500


def get(*, session: Session, tenant: str, user_id: str, device_id: str) -> Binding | None:
    user, device = str_id(user_id), str_id(device_id)
    if user is None or device is None:
        return None
    binding = session.get(Binding, (user, device))
    return binding if binding is not None and binding.tenant == tenant else None


def get_or_raise(*, session: Session, tenant: str, user_id: str, device_id: str) -> Binding:
    binding = get(session=session, tenant=tenant, user_id=user_id, device_id=device_id)
    if binding is None:
        raise NotFound("binding", f"of user {user_id} to device {device_id}")
    return binding


def owner_of(*, session: Session, tenant: str, device_id: str) -> str | None:
    return session.scalar(select(Binding.user_id).where(
        Binding.tenant == tenant, Binding.device_id == device_id, Binding.role == "owner"))


def owner_taken(device_id: str, owner_id: str) -> InvalidState:
    return InvalidState(f"device {device_id} already has an owner", data={"owner_id": owner_id})


def _flush(session: Session, binding: Binding) -> None:
    """Flush in a savepoint: a second owner slipping past the check is 40901 too, and a
    user removed meanwhile is missing."""
    try:
        with session.begin_nested():
            session.add(binding)
            session.flush()
    except IntegrityError:
        owner = owner_of(session=session, tenant=binding.tenant, device_id=binding.device_id)
        if owner is not None and binding.role == "owner" and owner != binding.user_id:
            raise owner_taken(binding.device_id, owner) from None
        raise NotFound("user", binding.user_id) from None


def create(*, session: Session, tenant: str, user_id: str, device_id: str,
           role: str) -> Binding:
    binding = Binding(tenant=tenant, user_id=user_id, device_id=device_id, role=role)
    _flush(session, binding)
    return binding


def update(*, session: Session, binding: Binding, role: str) -> Binding:
    binding.role = role
    _flush(session, binding)
    return binding


def delete(*, session: Session, binding: Binding) -> None:
    """Exactly one of concurrent unbinds deletes it; the others are 40401."""
    delete_or_404(session, binding, resource="binding")


def delete_for_devices(*, session: Session, tenant: str, device_ids: Sequence[str]) -> None:
    wanted = sorted(set(device_ids))
    for start in range(0, len(wanted), CHUNK):
        session.execute(sql_delete(Binding).where(
            Binding.tenant == tenant, Binding.device_id.in_(wanted[start:start + CHUNK])),
            execution_options={"synchronize_session": False})


def device_ids_of_user(*, session: Session, user_id: str) -> list[str]:
    return list(session.scalars(select(Binding.device_id).where(Binding.user_id == user_id)))


def delete_for_user(*, session: Session, user_id: str) -> None:
    session.execute(sql_delete(Binding).where(Binding.user_id == user_id),
                    execution_options={"synchronize_session": False})


def page_of_user(*, session: Session, user_id: str,
                 query: PageQuery) -> tuple[list[Binding], int]:
    """A user's bindings, newest first (served by ``ix_bindings_user_bound``)."""
    stmt = select(Binding).where(Binding.user_id == user_id).order_by(
        Binding.bound_at.desc(), Binding.device_id.desc())
    return paginate(session, stmt, query)


def page_of_device(*, session: Session, tenant: str, device_id: str,
                   query: PageQuery) -> tuple[list[Binding], int]:
    """A device's bindings in the tenant, newest first."""
    stmt = select(Binding).where(Binding.tenant == tenant, Binding.device_id == device_id
                                 ).order_by(Binding.bound_at.desc(), Binding.user_id.desc())
    return paginate(session, stmt, query)


def roles_of_device(*, session: Session, tenant: str, device_id: str) -> dict[str, str]:
    rows = session.execute(select(Binding.user_id, Binding.role).where(
        Binding.tenant == tenant, Binding.device_id == device_id))
    return {user_id: role for user_id, role in rows}
