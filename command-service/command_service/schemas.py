from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from oms_shared import HistoryPage, HistoryQuery, Integer, PageQuery, Schema, UtcDateTime

Id = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Identifier = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")]
TimeoutMs = Annotated[Integer, Field(ge=100, le=30_000)]
Params = dict[str, Any]
Kind = Literal["property_set", "service"]
Status = Literal["queued", "sent", "succeeded", "failed", "timed_out", "undeliverable",
                 "cancelled"]
DEFAULT_TIMEOUT_MS = 5000


class PropertySet(Schema):
    """§2.17: set writable properties of a device on behalf of a user bound to it."""

    user_id: Id
    device_id: Id
    params: Annotated[Params, Field(min_length=1)]
    timeout_ms: TimeoutMs = DEFAULT_TIMEOUT_MS


class ServiceInvoke(Schema):
    """§2.18: call a service of the device's thing model."""

    user_id: Id
    device_id: Id
    service: Identifier
    params: Params = Field(default_factory=dict)
    timeout_ms: TimeoutMs = DEFAULT_TIMEOUT_MS


class CommandResult(BaseModel):
    """A synchronous command's answer: the device's code and data. An asynchronous
    service call answers only its ``message_id`` (the reply lands in the command log)."""

    message_id: str
    code: int | None = None
    data: Any = None


class CommandQuery(HistoryQuery):
    status: Status | None = None
    kind: Kind | None = None


class CommandRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    message_id: str
    device_id: str
    kind: Kind
    identifier: str | None
    call_type: str
    params: Any
    user_id: str
    app_id: str
    job_id: str | None
    status: Status
    code: int | None
    data: Any
    created_at: UtcDateTime
    sent_at: UtcDateTime | None
    replied_at: UtcDateTime | None


class CommandPage(HistoryPage[CommandRead]):
    pass


# ---- group jobs --------------------------------------------------------------------------

class GroupCommand(Schema):
    """Send one property set or service call to every device of a group."""

    # the rules of ``_service_named``, as JSON Schema states them
    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"properties": {"kind": {"const": "service"}, "service": {"type": "string"}},
         "required": ["service"]},
        {"properties": {"kind": {"const": "property_set"}, "service": {"type": "null"},
                        "params": {"minProperties": 1}},
         "required": ["params"]},
    ]})

    group_id: Id
    user_id: Id
    kind: Kind
    service: Identifier | None = None
    params: Params = Field(default_factory=dict)
    rate: Annotated[Integer, Field(ge=1, le=1000)] = 50
    timeout_ms: TimeoutMs = DEFAULT_TIMEOUT_MS

    @model_validator(mode="after")
    def _service_named(self) -> GroupCommand:
        if self.kind == "service" and self.service is None:
            raise ValueError("service: required when kind is service")
        if self.kind == "property_set" and self.service is not None:
            raise ValueError("service: only with kind service")
        if self.kind == "property_set" and not self.params:
            raise ValueError("params: a property set sets at least one property")
        return self


class JobCreated(BaseModel):
    job_id: str
    total: int


class JobQuery(PageQuery):
    status: Status | None = None


class JobResult(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: str
    message_id: str
    status: Status
    code: int | None
    data: Any
    sent_at: UtcDateTime | None
    replied_at: UtcDateTime | None


class JobDetail(BaseModel):
    job_id: str
    group_id: str
    user_id: str
    kind: Kind
    identifier: str | None
    params: Any
    rate: int
    status: Literal["running", "done", "cancelled"]
    total: int
    counts: dict[str, int]
    created_at: UtcDateTime
    finished_at: UtcDateTime | None
    list: list[JobResult]
    page: int
    page_size: int
