from group_service import flows
from group_service.db import db
from group_service.schemas import (
    DeviceAddResult,
    DeviceItem,
    DeviceRefs,
    DeviceRemoveResult,
    GroupCreate,
    GroupList,
    GroupRead,
    GroupUpdate,
    MemberAdd,
    MemberItem,
    MemberRead,
    MemberRemove,
)
from oms_shared import Api, Conflict, Empty, NotFound, Page, PageQuery, current_tenant, state

api = Api("group", __name__)


@api.post("/oms/group/list", body=GroupList, returns=Page[GroupRead])
def group_list(body: GroupList) -> dict:
    """List groups, newest first; ``name`` matches a substring."""
    return flows.get_all(session=db.session, tenant=current_tenant(), query=body)


@api.post("/oms/group/add", body=GroupCreate, returns=GroupRead, errors=(NotFound, Conflict),
          resource="group")
def group_add(body: GroupCreate) -> object:
    """Add a group; ``name`` is unique in the tenant, ``owner_id`` a user of the tenant."""
    return flows.create(session=db.session, oms=state(), tenant=current_tenant(), data=body)


@api.post("/oms/group/update/<group_id>", body=GroupUpdate, returns=GroupRead,
          errors=(Conflict,))
def group_update(body: GroupUpdate, group_id: str) -> object:
    """Rename a group or give it another owner."""
    return flows.update(session=db.session, oms=state(), tenant=current_tenant(),
                        group_id=group_id, data=body)


@api.post("/oms/group/detail/<group_id>", returns=GroupRead)
def group_detail(body: Empty, group_id: str) -> object:
    """A group with its member and device counts."""
    return flows.get(session=db.session, tenant=current_tenant(), group_id=group_id)


@api.post("/oms/group/remove/<group_id>")
def group_remove(body: Empty, group_id: str) -> None:
    """Remove a group with its memberships and devices (the devices themselves stay)."""
    flows.remove(session=db.session, tenant=current_tenant(), group_id=group_id)


@api.post("/oms/group/member/add/<group_id>", body=MemberAdd, returns=MemberRead)
def member_add(body: MemberAdd, group_id: str) -> object:
    """Make a user of the tenant a member; adding a member again answers the same row."""
    return flows.add_member(session=db.session, oms=state(), tenant=current_tenant(),
                            group_id=group_id, user_id=body.user_id)


@api.post("/oms/group/member/remove/<group_id>", body=MemberRemove)
def member_remove(body: MemberRemove, group_id: str) -> None:
    """Remove a member (the user stays); not a member: 40401."""
    flows.remove_member(session=db.session, tenant=current_tenant(), group_id=group_id,
                        user_id=body.user_id)


@api.post("/oms/group/member/<group_id>", body=PageQuery, returns=Page[MemberItem])
def member_list(body: PageQuery, group_id: str) -> dict:
    """A group's members, newest first, with each user's name and status."""
    return flows.member_page(session=db.session, oms=state(), tenant=current_tenant(),
                             group_id=group_id, query=body)


@api.post("/oms/group/device/add/<group_id>", body=DeviceRefs, returns=DeviceAddResult)
def device_add(body: DeviceRefs, group_id: str) -> dict:
    """Add one stocked device (``device_id``) or up to 1,000 (``device_ids``)."""
    return flows.add_devices(session=db.session, oms=state(), tenant=current_tenant(),
                             group_id=group_id, refs=body)


@api.post("/oms/group/device/remove/<group_id>", body=DeviceRefs, returns=DeviceRemoveResult)
def device_remove(body: DeviceRefs, group_id: str) -> dict:
    """Take one device (``device_id``) or up to 1,000 (``device_ids``) out of the group."""
    return flows.remove_devices(session=db.session, tenant=current_tenant(), group_id=group_id,
                                refs=body)


@api.post("/oms/group/device/<group_id>", body=PageQuery, returns=Page[DeviceItem])
def device_list(body: PageQuery, group_id: str) -> dict:
    """A group's devices, newest first, with each device's name, key and status."""
    return flows.device_page(session=db.session, oms=state(), tenant=current_tenant(),
                             group_id=group_id, query=body)


@api.post("/oms/user/group/<user_id>", body=PageQuery, returns=Page[GroupRead])
def user_groups(body: PageQuery, user_id: str) -> dict:
    """The groups a user is a member or the owner of (routed here by the gateway)."""
    return flows.groups_of_user(session=db.session, oms=state(), tenant=current_tenant(),
                                user_id=user_id, query=body)


@api.post("/oms/device/group/<device_id>", body=PageQuery, returns=Page[GroupRead])
def device_groups(body: PageQuery, device_id: str) -> dict:
    """The groups holding a device (routed here by the gateway)."""
    return flows.groups_of_device(session=db.session, oms=state(), tenant=current_tenant(),
                                  device_id=device_id, query=body)
