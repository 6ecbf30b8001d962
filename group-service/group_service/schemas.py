from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from oms_shared import PageQuery, Schema, UtcDateTime, ValidationFailed

MAX_IDS = 1000  # ids in one body, and in one brief call to a peer

Name = Annotated[StrictStr, Field(min_length=1, max_length=64)]
# A reference to a user or device: any string a client may send; one that cannot name a
# row (too long, odd characters) is answered as unknown (40401), like another tenant's.
Ref = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Refs = Annotated[list[Ref], Field(min_length=1, max_length=MAX_IDS)]


class GroupCreate(Schema):
    name: Name
    owner_id: Ref


class GroupUpdate(Schema):
    name: Name | None = None
    owner_id: Ref | None = None


class GroupList(PageQuery):
    name: Annotated[StrictStr, Field(max_length=64)] | None = None


class GroupRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    owner_id: str | None
    member_count: int
    device_count: int
    created_at: UtcDateTime
    updated_at: UtcDateTime


class MemberAdd(Schema):
    user_id: Ref


class MemberRemove(Schema):
    user_id: Ref


class MemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    group_id: str
    user_id: str
    added_at: UtcDateTime


class MemberItem(BaseModel):
    """A member in a group's member page; the user fields are null if the user is gone."""

    user_id: str
    username: str | None
    nickname: str | None
    status: Literal["enable", "disable"] | None
    added_at: UtcDateTime


class DeviceRefs(Schema):
    """``device_id`` (one) or ``device_ids`` (up to 1,000): exactly one of them."""

    # the rule below, as JSON Schema states it (null is the same as absent)
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"required": ["device_id"], "properties": {"device_id": {"type": "string"},
                                                   "device_ids": {"type": "null"}}},
        {"required": ["device_ids"], "properties": {"device_ids": {"type": "array"},
                                                    "device_id": {"type": "null"}}},
    ]})

    device_id: Ref | None = None
    device_ids: Refs | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DeviceRefs:
        if (self.device_id is None) == (self.device_ids is None):
            raise ValidationFailed.field("device_ids",
                                         "give exactly one of device_id and device_ids")
        return self

    @property
    def single(self) -> bool:
        return self.device_id is not None

    def ids(self) -> list[str]:
        """The ids asked for, each once, in the order given."""
        return list(dict.fromkeys(self.device_ids or [self.device_id or ""]))


class DeviceAddResult(BaseModel):
    added: list[str]
    existing: list[str]
    unknown: list[str]


class DeviceRemoveResult(BaseModel):
    removed: list[str]
    absent: list[str]


class DeviceItem(BaseModel):
    """A device in a group's device page; the device fields are null if it is gone."""

    device_id: str
    name: str | None
    device_name: str | None
    product_key: str | None
    status: str | None
    added_at: UtcDateTime
