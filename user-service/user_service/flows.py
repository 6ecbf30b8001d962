"""User workflows: password hashing, bindings checked with the device service, the
binding cache other services read (``oms_shared.BindingCache``), removal events."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from oms_shared import (
    DevicesRemoved,
    NotFound,
    OMSState,
    PageQuery,
    UserRemoved,
    bury,
    claim_alive,
    end_read,
    on_commit,
    publish,
    purge_buried,
    str_id,
)
from user_service import bindings, users
from user_service.models import Binding, KnownDevice, User
from user_service.schemas import BindingCreate, BindingDelete, UserCreate, UserList, UserUpdate

# argon2id with argon2-cffi's defaults, RFC 9106's second recommended ("low memory")
# profile: time_cost=3, memory_cost=64 MiB, parallelism=4, 16-byte salt, 32-byte hash;
# above OWASP's minimum (m=19 MiB, t=2, p=1). The encoded hash records them, so they
# can be raised later without breaking existing hashes.
hasher = PasswordHasher()
TOMBSTONE_AGE = timedelta(days=1)


def hash_password(password: str) -> str:
    return hasher.hash(password)


def _invalidate(session: Session, oms: OMSState, tenant: str, device_ids: list[str]) -> None:
    """After the commit, the device service's cached bindings of these devices go."""
    if device_ids:
        on_commit(session, lambda: oms.bindings.invalidate(tenant, device_ids))


def device_briefs(oms: OMSState, device_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The caller tenant's devices among ``device_ids``, from the device service in one
    call (any status); unknown and other tenants' ids are left out."""
    wanted = sorted({k for k in map(str_id, device_ids) if k})
    if not wanted:
        return {}
    data = oms.client.post("device", "/internal/device/brief", {"device_ids": wanted},
                           idempotent=True)
    return {d["id"]: d for d in data["devices"]}


def _device(oms: OMSState, device_id: str, *, stocked: bool) -> dict[str, Any]:
    """The device, asked before the transaction; 40401 when unknown, another tenant's,
    or (``stocked``) still in a pending batch."""
    brief = device_briefs(oms, [device_id]).get(device_id)
    if brief is None or (stocked and brief["status"] == "produced"):
        raise NotFound("device", device_id)
    return brief


# users


def get_all(*, session: Session, tenant: str, query: UserList) -> dict[str, Any]:
    rows, total = users.get_all(session=session, tenant=tenant, query=query)
    return {"list": rows, "total": total, "page": query.page, "page_size": query.page_size}


def create(*, session: Session, tenant: str, data: UserCreate) -> User:
    password_hash = hash_password(data.password)  # before the transaction: it takes a while
    return users.create(session=session, tenant=tenant, username=data.username,
                        password_hash=password_hash, nickname=data.nickname,
                        status=data.status)


def update(*, session: Session, tenant: str, user_id: str, data: UserUpdate) -> User:
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    if "password" in changes:
        changes["password_hash"] = hash_password(changes.pop("password"))
    user = users.get_or_raise(session=session, tenant=tenant, user_id=user_id)
    return users.update(session=session, user=user, changes=changes)


def remove(*, session: Session, oms: OMSState, tenant: str, user_id: str) -> None:
    """The user and its bindings go; the group service hears of it (UserRemoved)."""
    user = users.lock_or_raise(session=session, tenant=tenant, user_id=user_id)
    device_ids = bindings.device_ids_of_user(session=session, user_id=user.id)
    bindings.delete_for_user(session=session, user_id=user.id)
    users.delete(session=session, user=user)
    publish(session, oms.redis, oms.keys, UserRemoved(tenant=tenant, user_id=user.id))
    _invalidate(session, oms, tenant, device_ids)


# bindings


def bind(*, session: Session, oms: OMSState, tenant: str, data: BindingCreate) -> Binding:
    """Bind a user to a stocked device; the same binding again changes nothing."""
    _device(oms, data.device_id, stocked=True)  # no transaction across the peer call
    user = users.get_or_raise(session=session, tenant=tenant, user_id=data.user_id)
    if data.device_id not in claim_alive(session, KnownDevice, ids=[data.device_id],
                                         tenant=tenant):
        raise NotFound("device", data.device_id)  # its removal was applied meanwhile
    existing = bindings.get(session=session, tenant=tenant, user_id=user.id,
                            device_id=data.device_id)
    if existing is not None and existing.role == data.role:
        return existing
    if data.role == "owner":
        owner = bindings.owner_of(session=session, tenant=tenant, device_id=data.device_id)
        if owner is not None and owner != user.id:
            raise bindings.owner_taken(data.device_id, owner)
    if existing is not None:
        binding = bindings.update(session=session, binding=existing, role=data.role)
    else:
        binding = bindings.create(session=session, tenant=tenant, user_id=user.id,
                                  device_id=data.device_id, role=data.role)
    _invalidate(session, oms, tenant, [data.device_id])
    return binding


def unbind(*, session: Session, oms: OMSState, tenant: str, data: BindingDelete) -> None:
    user = users.get_or_raise(session=session, tenant=tenant, user_id=data.user_id)
    binding = bindings.get_or_raise(session=session, tenant=tenant, user_id=user.id,
                                    device_id=data.device_id)
    bindings.delete(session=session, binding=binding)
    _invalidate(session, oms, tenant, [data.device_id])


def devices_of_user(*, session: Session, oms: OMSState, tenant: str, user_id: str,
                    query: PageQuery) -> dict[str, Any]:
    """§4.5: a page of the user's bindings, the device fields from one brief call."""
    user = users.get_or_raise(session=session, tenant=tenant, user_id=user_id)
    rows, total = bindings.page_of_user(session=session, user_id=user.id, query=query)
    end_read(session)  # no lock (SQLite's is database-wide) across the peer call
    briefs = device_briefs(oms, [b.device_id for b in rows])
    page = []
    for b in rows:
        device = briefs.get(b.device_id, {})
        page.append({"device_id": b.device_id, "name": device.get("name"),
                     "device_name": device.get("device_name"),
                     "product_key": device.get("product_key"), "status": device.get("status"),
                     "role": b.role, "bound_at": b.bound_at})
    return {"list": page, "total": total, "page": query.page, "page_size": query.page_size}


def members_of_device(*, session: Session, oms: OMSState, tenant: str, device_id: str,
                      query: PageQuery) -> dict[str, Any]:
    """§2.15: a page of the users bound to a device of the tenant."""
    _device(oms, device_id, stocked=False)
    rows, total = bindings.page_of_device(session=session, tenant=tenant, device_id=device_id,
                                          query=query)
    found = {u.id: u for u in users.get_many(session=session, tenant=tenant,
                                             user_ids=[b.user_id for b in rows])}
    page = [{"user_id": b.user_id, "username": found[b.user_id].username,
             "nickname": found[b.user_id].nickname, "status": found[b.user_id].status,
             "role": b.role, "bound_at": b.bound_at} for b in rows if b.user_id in found]
    return {"list": page, "total": total, "page": query.page, "page_size": query.page_size}


def device_bindings(*, session: Session, tenant: str, device_id: str) -> dict[str, Any]:
    """What ``BindingCache`` fills from: the tenant's bindings of the device."""
    if str_id(device_id) is None:
        return {"bindings": {}}
    return {"bindings": bindings.roles_of_device(session=session, tenant=tenant,
                                                 device_id=device_id)}


# events


def apply_devices_removed(*, session: Session, oms: OMSState, event: DevicesRemoved) -> None:
    """Bury the devices (a bind in flight is refused or deleted), then their bindings go.
    Idempotent: applying it again finds nothing more to do."""
    ids = sorted(set(event.device_ids))
    bury(session, KnownDevice, ids=ids, tenant=event.tenant)
    bindings.delete_for_devices(session=session, tenant=event.tenant, device_ids=ids)
    _invalidate(session, oms, event.tenant, ids)


def purge_tombstones(*, session: Session) -> int:
    return purge_buried(session, KnownDevice, older_than=TOMBSTONE_AGE)
