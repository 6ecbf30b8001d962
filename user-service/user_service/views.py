from oms_shared import (
    Api,
    Conflict,
    Empty,
    InvalidState,
    NotFound,
    Page,
    PageQuery,
    current_tenant,
    state,
)
from user_service import flows, users
from user_service.db import db
from user_service.schemas import (
    BindingCreate,
    BindingDelete,
    BindingRead,
    DeviceBindings,
    DeviceMember,
    UserBriefs,
    UserCreate,
    UserDevice,
    UserIds,
    UserList,
    UserRead,
    UserUpdate,
)

api = Api("user", __name__)


@api.post("/oms/user/list", body=UserList, returns=Page[UserRead])
def user_list(body: UserList) -> dict:
    """List users, newest first; ``username`` matches a substring, ``status`` exactly."""
    return flows.get_all(session=db.session, tenant=current_tenant(), query=body)


@api.post("/oms/user/add", body=UserCreate, returns=UserRead, errors=(Conflict,),
          resource="user")
def user_add(body: UserCreate) -> object:
    """Add a user; the password is stored only as an argon2id hash, never returned."""
    return flows.create(session=db.session, tenant=current_tenant(), data=body)


@api.post("/oms/user/update/<user_id>", body=UserUpdate, returns=UserRead, errors=(Conflict,))
def user_update(body: UserUpdate, user_id: str) -> object:
    """Change a user's username, password, nickname or status."""
    return flows.update(session=db.session, tenant=current_tenant(), user_id=user_id,
                        data=body)


@api.post("/oms/user/detail/<user_id>", returns=UserRead)
def user_detail(body: Empty, user_id: str) -> object:
    """A user."""
    return users.get_or_raise(session=db.session, tenant=current_tenant(), user_id=user_id)


@api.post("/oms/user/remove/<user_id>")
def user_remove(body: Empty, user_id: str) -> None:
    """Remove a user with its bindings (and, in the group service, its memberships)."""
    flows.remove(session=db.session, oms=state(), tenant=current_tenant(), user_id=user_id)


@api.post("/oms/user/bind", body=BindingCreate, returns=BindingRead,
          errors=(NotFound, InvalidState))
def user_bind(body: BindingCreate) -> object:
    """Bind a user to a stocked device as ``owner`` or ``member``; one owner a device."""
    return flows.bind(session=db.session, oms=state(), tenant=current_tenant(), data=body)


@api.post("/oms/user/unbind", body=BindingDelete, errors=(NotFound,))
def user_unbind(body: BindingDelete) -> None:
    """Undo a binding."""
    flows.unbind(session=db.session, oms=state(), tenant=current_tenant(), data=body)


@api.post("/oms/user/device/<user_id>", body=PageQuery, returns=Page[UserDevice])
def user_devices(body: PageQuery, user_id: str) -> dict:
    """The devices a user is bound to, newest binding first."""
    return flows.devices_of_user(session=db.session, oms=state(), tenant=current_tenant(),
                                 user_id=user_id, query=body)


@api.post("/oms/device/member/<device_id>", body=PageQuery, returns=Page[DeviceMember])
def device_members(body: PageQuery, device_id: str) -> dict:
    """The users bound to a device, newest binding first."""
    return flows.members_of_device(session=db.session, oms=state(), tenant=current_tenant(),
                                   device_id=device_id, query=body)


@api.post("/internal/user/brief", body=UserIds, returns=UserBriefs)
def user_brief(body: UserIds) -> dict:
    """Internal: the caller's users among ``user_ids`` (up to 1000); others left out."""
    return {"users": users.get_many(session=db.session, tenant=current_tenant(),
                                    user_ids=body.user_ids)}


@api.post("/internal/user/bindings/<device_id>", returns=DeviceBindings)
def user_bindings(body: Empty, device_id: str) -> dict:
    """Internal: the caller tenant's bindings of a device (user id -> role), for
    ``oms_shared.BindingCache``; ``{}`` when none or unknown."""
    return flows.device_bindings(session=db.session, tenant=current_tenant(),
                                 device_id=device_id)
