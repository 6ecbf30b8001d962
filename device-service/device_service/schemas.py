from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from oms_shared import IntKey, PageQuery, Schema, UtcDateTime

MAX_AMOUNT = 100_000

Name = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Remark = Annotated[StrictStr, Field(max_length=256)]
BatchNo = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
ProductId = IntKey
DeviceStatus = Literal["produced", "inactive", "online", "offline", "disabled"]


class BatchSubmit(Schema):
    name: Name
    amount: Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT)]
    product_id: ProductId
    batch_no: BatchNo
    remark: Remark = ""


class BatchUpdate(Schema):
    name: Name | None = None
    remark: Remark | None = None


class BatchList(PageQuery):
    name: Annotated[StrictStr, Field(max_length=64)] | None = None
    batch_no: Annotated[StrictStr, Field(max_length=64)] | None = None
    product_id: IntKey | None = None


class BatchRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    batch_no: str
    product_id: int
    amount: int
    remark: str
    status: Literal["pending", "confirmed"]
    created_at: UtcDateTime
    confirmed_at: UtcDateTime | None


class DeviceList(PageQuery):
    product_id: IntKey | None = None
    name: Annotated[StrictStr, Field(max_length=64)] | None = None
    device_name: Annotated[StrictStr, Field(max_length=64)] | None = None
    status: Literal["inactive", "online", "offline", "disabled"] | None = None
    batch_no: Annotated[StrictStr, Field(max_length=64)] | None = None


class DeviceUpdate(Schema):
    name: Name | None = None
    remark: Remark | None = None


class DeviceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    device_name: str
    product_id: int
    product_key: str
    batch_id: int
    batch_no: str
    status: DeviceStatus
    remark: str
    activated_at: UtcDateTime | None
    last_online_at: UtcDateTime | None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class PropertyValue(BaseModel):
    value: Any
    time: UtcDateTime


class DeviceDetail(DeviceRead):
    device_secret: str
    properties: dict[str, PropertyValue] = {}


class DeviceCounts(Schema):
    product_ids: Annotated[list[IntKey], Field(max_length=500)]


class Counts(BaseModel):
    counts: dict[int, int]


class DeviceIds(Schema):
    device_ids: Annotated[list[Annotated[StrictStr, Field(min_length=1, max_length=64)]],
                          Field(max_length=1000)]


class DeviceBrief(BaseModel):
    """What other services show of a device (a binding's, a group's)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    device_name: str
    product_id: int
    product_key: str
    status: DeviceStatus


class DeviceBriefs(BaseModel):
    devices: list[DeviceBrief]
