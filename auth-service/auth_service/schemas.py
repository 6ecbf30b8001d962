from __future__ import annotations

from typing import Annotated

from oms_shared import Schema, UtcDateTime
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr


class TokenRequest(Schema):
    app_id: StrictStr = Field(min_length=1, max_length=64)
    timestamp: Annotated[StrictStr | StrictInt, Field(description="epoch seconds or ms")]
    sign: StrictStr = Field(min_length=1, max_length=128)


class TokenRead(BaseModel):
    token: str
    expires_in: int
    expires_at: UtcDateTime


class AppRead(BaseModel):
    """What the command-line tool shows of an app (the secret only on create/rotate)."""

    model_config = ConfigDict(from_attributes=True)

    app_id: str
    tenant: str
    name: str
    enabled: bool
    is_default: bool
    created_at: UtcDateTime
    updated_at: UtcDateTime
