"""Group workflows: anything that asks the user or device service (one brief call, made
before the transaction starts or after the read ends, never across a lock) and the
tombstones that keep a membership or group device from outliving its user or device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from group_service import group_devices, groups, members
from group_service.models import Group, KnownDevice, KnownUser, Member
from group_service.schemas import DeviceRefs, GroupCreate, GroupList, GroupUpdate
from oms_shared import NotFound, OMSState, PageQuery, claim_alive, end_read, str_id

NOT_IN_STOCK = "produced"  # a device of a pending batch


def _ids(values: Sequence[str]) -> list[str]:
    return [i for i in dict.fromkeys(values) if str_id(i) is not None]


def user_briefs(oms: OMSState, user_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The caller tenant's users among these ids, from the user service (one call)."""
    ids = _ids(user_ids)
    if not ids:
        return {}
    data = oms.client.post("user", "/internal/user/brief", {"user_ids": ids}, idempotent=True)
    return {u["id"]: u for u in data["users"]}


def device_briefs(oms: OMSState, device_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The caller tenant's devices among these ids, any status (one call)."""
    ids = _ids(device_ids)
    if not ids:
        return {}
    data = oms.client.post("device", "/internal/device/brief", {"device_ids": ids},
                           idempotent=True)
    return {d["id"]: d for d in data["devices"]}


def _check_user(oms: OMSState, user_id: str) -> None:
    if user_id not in user_briefs(oms, [user_id]):
        raise NotFound("user", user_id)


def _claim_user(session: Session, tenant: str, user_id: str) -> None:
    """The user is not being removed, and cannot be until this transaction ends."""
    if user_id not in claim_alive(session, KnownUser, ids=[user_id], tenant=tenant):
        raise NotFound("user", user_id)


def _page(rows: list[Any], total: int, query: PageQuery) -> dict[str, Any]:
    return {"list": rows, "total": total, "page": query.page, "page_size": query.page_size}


# groups

def get_all(*, session: Session, tenant: str, query: GroupList) -> dict[str, Any]:
    return _page(*groups.get_all(session=session, tenant=tenant, query=query), query)


def get(*, session: Session, tenant: str, group_id: str) -> Group:
    group = groups.get_or_raise(session=session, tenant=tenant, group_id=group_id)
    return groups.with_counts(session, [group])[0]


def create(*, session: Session, oms: OMSState, tenant: str, data: GroupCreate) -> Group:
    _check_user(oms, data.owner_id)
    _claim_user(session, tenant, data.owner_id)
    return groups.create(session=session, tenant=tenant, name=data.name, owner_id=data.owner_id)


def update(*, session: Session, oms: OMSState, tenant: str, group_id: str,
           data: GroupUpdate) -> Group:
    if data.owner_id is not None:
        _check_user(oms, data.owner_id)
    group = groups.get_or_raise(session=session, tenant=tenant, group_id=group_id)
    if data.owner_id is not None and data.owner_id != group.owner_id:
        _claim_user(session, tenant, data.owner_id)
    return groups.update(session=session, group=group, name=data.name, owner_id=data.owner_id)


def remove(*, session: Session, tenant: str, group_id: str) -> None:
    group = groups.get_or_raise(session=session, tenant=tenant, group_id=group_id)
    groups.delete(session=session, group=group)


def groups_of_user(*, session: Session, oms: OMSState, tenant: str, user_id: str,
                   query: PageQuery) -> dict[str, Any]:
    """§4.6: the groups a user is a member or the owner of; the user must exist."""
    _check_user(oms, user_id)
    return _page(*groups.get_all_of_user(session=session, tenant=tenant, user_id=user_id,
                                         query=query), query)


def groups_of_device(*, session: Session, oms: OMSState, tenant: str, device_id: str,
                     query: PageQuery) -> dict[str, Any]:
    """§2.16: the groups holding a device; the device must exist (in any status)."""
    if device_id not in device_briefs(oms, [device_id]):
        raise NotFound("device", device_id)
    return _page(*groups.get_all_of_device(session=session, tenant=tenant, device_id=device_id,
                                           query=query), query)


# members

def add_member(*, session: Session, oms: OMSState, tenant: str, group_id: str,
               user_id: str) -> Member:
    """Adding a member twice answers the same membership."""
    _check_user(oms, user_id)
    group = groups.get_or_raise(session=session, tenant=tenant, group_id=group_id, lock=True)
    _claim_user(session, tenant, user_id)
    existing = members.get(session=session, group=group, user_id=user_id)
    return existing or members.create(session=session, group=group, user_id=user_id)


def remove_member(*, session: Session, tenant: str, group_id: str, user_id: str) -> None:
    group = groups.get_or_raise(session=session, tenant=tenant, group_id=group_id)
    members.delete(session=session,
                   member=members.get_or_raise(session=session, group=group, user_id=user_id))


def member_page(*, session: Session, oms: OMSState, tenant: str, group_id: str,
                query: PageQuery) -> dict[str, Any]:
    """§5.3: the user fields come from one brief call for the page (null if gone)."""
    group = groups.get_or_raise(session=session, tenant=tenant, group_id=group_id)
    rows, total = members.get_all(session=session, group=group, query=query)
    end_read(session)  # no lock across the peer call
    users = user_briefs(oms, [m.user_id for m in rows])
    items = [{"user_id": m.user_id, "added_at": m.added_at,
              **{f: users.get(m.user_id, {}).get(f) for f in ("username", "nickname", "status")}}
             for m in rows]
    return _page(items, total, query)


# devices

def add_devices(*, session: Session, oms: OMSState, tenant: str, group_id: str,
                refs: DeviceRefs) -> dict[str, list[str]]:
    """Stocked devices of the tenant join the group (one brief call for up to 1,000);
    answers which were added, already there, or unknown (or not in stock, or removed).
    With ``device_id`` alone an unknown device is 40401."""
    ids = refs.ids()
    briefs = device_briefs(oms, ids)
    stocked = [i for i in ids if i in briefs and briefs[i]["status"] != NOT_IN_STOCK]
    group = groups.get_or_raise(session=session, tenant=tenant, group_id=group_id, lock=True)
    alive = claim_alive(session, KnownDevice, ids=stocked, tenant=tenant)
    if refs.single and not alive:
        raise NotFound("device", ids[0])
    known = [i for i in ids if i in alive]
    existing = group_devices.held(session=session, group=group, device_ids=known)
    added = [i for i in known if i not in existing]
    group_devices.create_many(session=session, group=group, device_ids=added)
    return {"added": added, "existing": [i for i in known if i in existing],
            "unknown": [i for i in ids if i not in alive]}


def remove_devices(*, session: Session, tenant: str, group_id: str,
                   refs: DeviceRefs) -> dict[str, list[str]]:
    """Answers which devices this call took out of the group and which were not in it
    (or were taken out by a concurrent call: each device is reported removed once)."""
    ids = refs.ids()
    group = groups.get_or_raise(session=session, tenant=tenant, group_id=group_id)
    taken = group_devices.delete_many(session=session, group=group, device_ids=_ids(ids))
    if refs.single and not taken:
        raise NotFound("device", ids[0])
    return {"removed": [i for i in ids if i in taken],
            "absent": [i for i in ids if i not in taken]}


def device_page(*, session: Session, oms: OMSState, tenant: str, group_id: str,
                query: PageQuery) -> dict[str, Any]:
    """§5.4: the device fields come from one brief call for the page (null if gone)."""
    group = groups.get_or_raise(session=session, tenant=tenant, group_id=group_id)
    rows, total = group_devices.get_all(session=session, group=group, query=query)
    end_read(session)  # no lock across the peer call
    found = device_briefs(oms, [d.device_id for d in rows])
    fields = ("name", "device_name", "product_key", "status")
    items = [{"device_id": d.device_id, "added_at": d.added_at,
              **{f: found.get(d.device_id, {}).get(f) for f in fields}} for d in rows]
    return _page(items, total, query)
