from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class StorageInfo(BaseModel):
    kind: str
    host: str | None


class TokenInfo(BaseModel):
    lifetime_seconds: int
    timestamp_window_seconds: int


class SettingInfo(BaseModel):
    bind_address: str
    version: str
    environment: str
    token: TokenInfo
    storage: dict[str, StorageInfo]
    redis: StorageInfo
    broker: StorageInfo


class InstanceRead(BaseModel):
    address: str
    status: Literal["up", "down"]
    version: str
    started_at: str
    last_seen: str


class ServiceRead(BaseModel):
    name: str
    status: Literal["up", "down"]
    instances: list[InstanceRead]


class ServiceList(BaseModel):
    list: list[ServiceRead]
    total: int
