"""Another tenant's ids, and ids that name nothing, answer 40401 on every endpoint, and
change nothing."""

from __future__ import annotations

import pytest

GROUP_PATHS = [  # (path, body) for a group id in the path
    ("/oms/group/detail/{id}", {}),
    ("/oms/group/update/{id}", {"name": "taken over"}),
    ("/oms/group/remove/{id}", {}),
    ("/oms/group/member/{id}", {}),
    ("/oms/group/member/add/{id}", {"user_id": "{user}"}),
    ("/oms/group/member/remove/{id}", {"user_id": "{member}"}),
    ("/oms/group/device/{id}", {}),
    ("/oms/group/device/add/{id}", {"device_id": "{device}"}),
    ("/oms/group/device/add/{id}", {"device_ids": ["{device}"]}),
    ("/oms/group/device/remove/{id}", {"device_id": "{device}"}),
    ("/oms/group/device/remove/{id}", {"device_ids": ["{device}"]}),
]


@pytest.fixture
def world(api, user, devices) -> dict[str, str]:
    """A t1 group with a member and a device, and a spare t1 user and device."""
    owner, member, spare = user(), user(), user()
    device, spare_device = devices(2)
    group = api.data("/oms/group/add", {"name": "g", "owner_id": owner})
    api.data(f"/oms/group/member/add/{group['id']}", {"user_id": member})
    api.data(f"/oms/group/device/add/{group['id']}", {"device_id": device})
    return {"id": group["id"], "owner": owner, "member": member, "user": spare,
            "device": device, "spare_device": spare_device}


def _fill(value, world):
    if isinstance(value, str):
        return value.format(**world)
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return {k: _fill(v, world) for k, v in value.items()}


def _snapshot(api, world):
    return (api.data(f"/oms/group/detail/{world['id']}"),
            api.data(f"/oms/group/member/{world['id']}"),
            api.data(f"/oms/group/device/{world['id']}"))


def test_another_tenant_sees_nothing_and_changes_nothing(api, other, world):
    before = _snapshot(api, world)
    for path, body in GROUP_PATHS:
        other.error(path.format(id=world["id"]), _fill(body, world), status=404, code=40401)
    for path in ("/oms/user/group/{owner}", "/oms/user/group/{member}",
                 "/oms/device/group/{device}"):
        other.error(path.format(**world), status=404, code=40401)
    assert other.data("/oms/group/list")["total"] == 0
    assert other.data("/oms/group/list", {"name": "g"})["list"] == []
    assert _snapshot(api, world) == before


def test_a_t1_reference_from_t2_is_unknown(other, world, user):
    """t2's own group: t1's users and devices as references are unknown."""
    group = other.data("/oms/group/add", {"name": "g", "owner_id": user(tenant="t2")})
    other.error("/oms/group/add", {"name": "h", "owner_id": world["owner"]}, status=404,
                code=40401)
    other.error(f"/oms/group/update/{group['id']}", {"owner_id": world["owner"]}, status=404,
                code=40401)
    other.error(f"/oms/group/member/add/{group['id']}", {"user_id": world["user"]},
                status=404, code=40401)
    other.error(f"/oms/group/device/add/{group['id']}", {"device_id": world["spare_device"]},
                status=404, code=40401)
    assert other.data(f"/oms/group/device/add/{group['id']}", {
        "device_ids": [world["spare_device"]]}) == {"added": [], "existing": [],
                                                    "unknown": [world["spare_device"]]}
    detail = other.data(f"/oms/group/detail/{group['id']}")
    assert (detail["member_count"], detail["device_count"]) == (0, 0)


@pytest.mark.parametrize("bad_id", ["0711b241-ffb3-4dad-92d1-2538c4e40cf6", "x" * 37, "y" * 300,
                                    "%E2%82%AC", "1"])
def test_ids_that_name_nothing_are_40401(api, world, bad_id):
    before = _snapshot(api, world)
    for path, body in GROUP_PATHS:
        api.error(path.format(id=bad_id), _fill(body, world), status=404, code=40401)
    for path in ("/oms/user/group/{id}", "/oms/device/group/{id}"):
        api.error(path.format(id=bad_id), status=404, code=40401)
    assert _snapshot(api, world) == before
