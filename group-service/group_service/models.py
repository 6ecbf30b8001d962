"""The group service's tables: groups, their members and devices, and the tombstones of
the users and devices other services own (``oms_shared.claim_alive`` / ``bury``)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, MetaData, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oms_shared import Base, utcnow

_KEY = re.compile(r"[A-Za-z0-9_-]{1,36}")


def key(value: object) -> str | None:
    """A path or body id as a String(36) key (users, groups, devices are UUIDs), or None
    when it cannot name a row: it then behaves as missing, never as a database error."""
    text = value if isinstance(value, str) else str(value)
    return text if _KEY.fullmatch(text) else None


def new_id() -> str:
    return str(uuid.uuid4())


class GroupBase(Base):
    __abstract__ = True
    metadata = MetaData()


class Group(GroupBase):
    __tablename__ = "groups"
    __table_args__ = (
        UniqueConstraint("tenant", "name", name="uq_groups_tenant_name"),
        Index("ix_groups_tenant_created", "tenant", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[str | None] = mapped_column(String(36), index=True, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)

    # Not columns: filled by groups.with_counts (one GROUP BY per page, never per row).
    member_count = 0
    device_count = 0


class Member(GroupBase):
    __tablename__ = "members"
    __table_args__ = (Index("ix_members_group_added", "group_id", "added_at", "user_id"),)

    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"),
                                          primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
    tenant: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GroupDevice(GroupBase):
    __tablename__ = "group_devices"
    __table_args__ = (  # a group's devices newest first, offset paging over this index
        Index("ix_group_devices_group_added", "group_id", "added_at", "device_id"),)

    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"),
                                          primary_key=True)
    device_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
    tenant: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class KnownDevice(GroupBase):
    """A device id this service has named (tombstone: ``removed_at`` once removed)."""

    __tablename__ = "known_devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True,
                                                        default=None)


class KnownUser(GroupBase):
    """A user id this service has named (tombstone: ``removed_at`` once removed)."""

    __tablename__ = "known_users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True,
                                                        default=None)
