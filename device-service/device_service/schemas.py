from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    model_validator,
)

from oms_shared import (
    Integer,
    IntKey,
    Page,
    PageQuery,
    Schema,
    TimeFilter,
    UtcDateTime,
    beyond_schema,
    cursor_field,
)

MAX_AMOUNT = 100_000

Name = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Remark = Annotated[StrictStr, Field(max_length=256)]
BatchNo = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
ProductId = IntKey
DeviceStatus = Literal["produced", "inactive", "online", "offline", "disabled"]


class BatchSubmit(Schema):
    name: Name
    amount: Annotated[Integer, Field(ge=1, le=MAX_AMOUNT)]
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


# ---- what devices report -----------------------------------------------------------------

Identifier = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")]


class LogCursor(NamedTuple):
    """A position in a newest-first log: the last row seen (its time and id), and the
    walk's ``total`` as counted on its first page, with the ``scope`` (the filters) it
    was counted for, so that the pages after it need not count again."""

    time: datetime
    id: int
    total: int | None = None
    scope: str = ""

    def encode(self) -> str:
        time = self.time if self.time.tzinfo else self.time.replace(tzinfo=UTC)
        micros = (time - EPOCH) // timedelta(microseconds=1)
        raw = f"{micros}:{self.id}"
        if self.total is not None:
            raw += f":{self.total}:{self.scope}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> LogCursor:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
            parts = raw.split(":")
            if len(parts) not in (2, 4):  # 2: a cursor from before totals were carried
                raise ValueError(raw)
            time = EPOCH + timedelta(microseconds=int(parts[0]))
            total = int(parts[2]) if len(parts) == 4 else None
            scope = parts[3] if len(parts) == 4 else ""
            cursor = cls(time=time, id=int(parts[1]), total=total, scope=scope)
        except (ValueError, UnicodeDecodeError, OverflowError):
            raise ValueError("not a cursor this endpoint returned") from None
        if cursor.id < 1 or (cursor.total is not None and cursor.total < 0):
            raise ValueError("not a cursor this endpoint returned")
        return cursor


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Cursor = cursor_field(LogCursor, LogCursor.decode)


class LogQuery(PageQuery):
    """A log page: offset paging by ``page``, or keyset paging after ``cursor`` (then
    ``page`` is not used). ``start_time``/``end_time`` are inclusive."""

    model_config = ConfigDict(json_schema_extra=beyond_schema("start_time is after end_time"))

    cursor: Cursor | None = None
    start_time: TimeFilter | None = None
    end_time: TimeFilter | None = None
    identifier: Identifier | None = None

    @model_validator(mode="after")
    def _ordered(self) -> LogQuery:
        if self.start_time and self.end_time and self.start_time > self.end_time:
            raise ValueError("start_time is after end_time")
        return self


class PropertyLogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    identifier: str
    value: Any
    time: UtcDateTime
    message_id: str


class EventLogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    identifier: str
    type: str
    params: Any
    time: UtcDateTime
    message_id: str


class PropertyLogPage(Page[PropertyLogRead]):
    next_cursor: str | None


class EventLogPage(Page[EventLogRead]):
    next_cursor: str | None
