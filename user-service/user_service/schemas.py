from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from oms_shared import PageQuery, Schema, UtcDateTime

Username = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Password = Annotated[StrictStr, Field(min_length=6, max_length=128)]
Nickname = Annotated[StrictStr, Field(max_length=64)]
Status = Literal["enable", "disable"]
Role = Literal["owner", "member"]
Id = Annotated[StrictStr, Field(min_length=1, max_length=64)]  # longer than a UUID: missing


class UserCreate(Schema):
    username: Username
    password: Password
    nickname: Nickname = ""
    status: Status = "enable"


class UserUpdate(Schema):
    username: Username | None = None
    password: Password | None = None
    nickname: Nickname | None = None
    status: Status | None = None


class UserList(PageQuery):
    username: Annotated[StrictStr, Field(max_length=64)] | None = None
    status: Status | None = None


class UserRead(BaseModel):
    """What anyone sees of a user: never the password or its hash."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    username: str
    nickname: str
    status: Status
    created_at: UtcDateTime
    updated_at: UtcDateTime


class BindingCreate(Schema):
    user_id: Id
    device_id: Id
    role: Role = "member"


class BindingDelete(Schema):
    user_id: Id
    device_id: Id


class BindingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: str
    device_id: str
    role: Role
    bound_at: UtcDateTime


class UserDevice(BaseModel):
    """A device bound to a user (§4.5): the device's fields are null if it vanished."""

    device_id: str
    name: str | None
    device_name: str | None
    product_key: str | None
    status: str | None
    role: Role
    bound_at: UtcDateTime


class DeviceMember(BaseModel):
    """A user bound to a device (§2.15)."""

    user_id: str
    username: str
    nickname: str
    status: Status
    role: Role
    bound_at: UtcDateTime


class UserIds(Schema):
    user_ids: Annotated[list[Id], Field(max_length=1000)]


class UserBrief(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    username: str
    nickname: str
    status: Status


class UserBriefs(BaseModel):
    users: list[UserBrief]


class DeviceBindings(BaseModel):
    bindings: dict[str, Role]
