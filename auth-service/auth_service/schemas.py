from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from oms_shared import Integer, Schema, UtcDateTime, accepts

#: The timestamp as it is signed: up to 16 digits, as text or as a number.
TimestampForms = (Annotated[StrictStr, Field(pattern=r"^[0-9]{1,16}$")]
                  | Annotated[Integer, Field(ge=0, le=10**16 - 1)])
SignedTimestamp = Annotated[str, accepts(TimestampForms, "must be epoch seconds or milliseconds",
                                         then=str),
                            Field(description="epoch seconds or milliseconds, as text (signed "
                                              "exactly as sent) or a number")]


class TokenRequest(Schema):
    app_id: StrictStr = Field(min_length=1, max_length=64)
    timestamp: SignedTimestamp
    sign: StrictStr = Field(pattern=r"^[0-9A-Fa-f]{32}$",
                            description="lowercase hex MD5 of app_id + timestamp + app_secret")


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
    scope: str
    created_at: UtcDateTime
    updated_at: UtcDateTime
