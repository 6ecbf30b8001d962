"""The removal handlers called directly (as the worker calls them): idempotent, and the
tombstones they leave refuse a late add; the add-vs-removal race applied step by step."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from group_service import flows, workers
from group_service.models import KnownDevice, KnownUser
from oms_shared import DevicesRemoved, UserRemoved, utcnow
from oms_shared.testing import ApiClient


def _removed(tenant: str, *device_ids: str) -> DevicesRemoved:
    return DevicesRemoved(tenant=tenant, product_id=10000, device_ids=list(device_ids))


def test_removed_devices_leave_every_group_idempotently(app, api, user, devices):
    owner = user()
    gone, kept = devices(2)
    groups = [api.data("/oms/group/add", {"name": n, "owner_id": owner}) for n in ("a", "b")]
    for group in groups:
        api.data(f"/oms/group/device/add/{group['id']}", {"device_ids": [gone, kept]})
    for _ in range(2):  # at least once: a repeat changes nothing
        workers.devices_removed(app, _removed("t1", gone))
        for group in groups:
            page = api.data(f"/oms/group/device/{group['id']}")
            assert [d["device_id"] for d in page["list"]] == [kept]
    assert api.data(f"/oms/device/group/{gone}")["total"] == 0  # still in the device app
    # the device service still answers for it, but its removal was applied: refused
    api.error(f"/oms/group/device/add/{groups[0]['id']}", {"device_id": gone}, status=404,
              code=40401)
    assert api.data(f"/oms/group/device/add/{groups[0]['id']}", {"device_ids": [gone, kept]}) \
        == {"added": [], "existing": [kept], "unknown": [gone]}


def test_a_removal_of_devices_never_seen_is_harmless(app, api, user):
    workers.devices_removed(app, _removed("t1", "never-seen", "x" * 40))
    assert api.data("/oms/group/list")["total"] == 0


def test_a_removed_user_loses_memberships_and_ownership(app, api, user):
    gone, stays = user(), user()
    owned = api.data("/oms/group/add", {"name": "owned", "owner_id": gone})
    joined = api.data("/oms/group/add", {"name": "joined", "owner_id": stays})
    for group in (owned, joined):
        for member in (gone, stays):
            api.data(f"/oms/group/member/add/{group['id']}", {"user_id": member})
    for _ in range(2):
        workers.user_removed(app, UserRemoved(tenant="t1", user_id=gone))
        detail = api.data(f"/oms/group/detail/{owned['id']}")
        assert detail["owner_id"] is None and detail["member_count"] == 1
        assert api.data(f"/oms/group/detail/{joined['id']}")["owner_id"] == stays
        for group in (owned, joined):
            members = api.data(f"/oms/group/member/{group['id']}")["list"]
            assert [m["user_id"] for m in members] == [stays]
    # the stand-in still lists the user (its removal crossed our check): refused anyway
    api.error(f"/oms/group/member/add/{joined['id']}", {"user_id": gone}, status=404,
              code=40401)
    api.error("/oms/group/add", {"name": "new", "owner_id": gone}, status=404, code=40401)
    api.error(f"/oms/group/update/{joined['id']}", {"owner_id": gone}, status=404, code=40401)
    assert api.data(f"/oms/user/group/{stays}")["total"] == 2


def test_old_tombstones_are_purged(app, session, api, user, devices):
    alive, gone = user(), user()
    api.data("/oms/group/add", {"name": "g", "owner_id": alive})
    workers.user_removed(app, UserRemoved(tenant="t1", user_id=gone))
    workers.devices_removed(app, _removed("t1", *devices(1)))
    assert workers.purge(app) == 0  # too fresh
    for model in (KnownUser, KnownDevice):
        session.execute(update(model).where(model.removed_at.is_not(None))
                        .values(removed_at=utcnow() - timedelta(days=2)))
    session.commit()
    assert workers.purge(app) == 2
    session.expire_all()
    assert list(session.scalars(select(KnownUser.id))) == [alive]
    assert list(session.scalars(select(KnownDevice.id))) == []


def test_race_removal_lands_between_the_check_and_the_add(app, api, user, devices,
                                                          device_app, monkeypatch):
    """Order 1: the device service said yes, then the device was removed and the removal
    applied here, then the add's transaction runs: it must refuse."""
    group = api.data("/oms/group/add", {"name": "g", "owner_id": user()})
    single, many = devices(1), devices(2)
    check = flows.device_briefs

    def check_then_remove(oms, ids):
        answer = check(oms, ids)
        for device_id in ids:
            ApiClient(device_app, tenant="t1").data(f"/oms/device/remove/{device_id}")
        workers.devices_removed(app, _removed("t1", *ids))
        return answer

    monkeypatch.setattr(flows, "device_briefs", check_then_remove)
    api.error(f"/oms/group/device/add/{group['id']}", {"device_id": single[0]}, status=404,
              code=40401)
    assert api.data(f"/oms/group/device/add/{group['id']}", {"device_ids": many}) == {
        "added": [], "existing": [], "unknown": many}
    assert api.data(f"/oms/group/detail/{group['id']}")["device_count"] == 0


def test_race_removal_after_the_add(app, api, user, devices, device_app):
    """Order 2: the add commits first, the removal is applied after: nothing is left."""
    group = api.data("/oms/group/add", {"name": "g", "owner_id": user()})
    ids = devices(3)
    api.data(f"/oms/group/device/add/{group['id']}", {"device_ids": ids})
    for device_id in ids[:2]:
        ApiClient(device_app, tenant="t1").data(f"/oms/device/remove/{device_id}")
    workers.devices_removed(app, _removed("t1", *ids[:2]))
    page = api.data(f"/oms/group/device/{group['id']}")
    assert [d["device_id"] for d in page["list"]] == [ids[2]]


def test_race_user_removal_between_the_check_and_the_member_add(app, api, user, monkeypatch):
    group = api.data("/oms/group/add", {"name": "g", "owner_id": user()})
    member = user()
    check = flows.user_briefs

    def check_then_remove(oms, ids):
        answer = check(oms, ids)
        workers.user_removed(app, UserRemoved(tenant="t1", user_id=member))
        return answer

    monkeypatch.setattr(flows, "user_briefs", check_then_remove)
    api.error(f"/oms/group/member/add/{group['id']}", {"user_id": member}, status=404,
              code=40401)
    monkeypatch.undo()
    assert api.data(f"/oms/group/detail/{group['id']}")["member_count"] == 0
