from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr

from oms_shared import Schema, UtcDateTime


def _timestamp_text(value: object) -> str:
    """The timestamp exactly as it was signed: digits, from a string or an integer."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("must be epoch seconds or milliseconds")
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 16:
        raise ValueError("must be epoch seconds or milliseconds")
    return text


SignedTimestamp = Annotated[str, BeforeValidator(_timestamp_text),
                            Field(description="epoch seconds or milliseconds")]


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
    created_at: UtcDateTime
    updated_at: UtcDateTime
