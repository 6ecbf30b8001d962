"""The group service's tables: groups, their members and devices, and the tombstones of
the users and devices other services own (``oms_shared.claim_alive`` / ``bury``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, MetaData, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oms_shared import Base, Tombstone, new_uuid, utcnow


class GroupBase(Base):
    __abstract__ = True
    metadata = MetaData()


class Group(GroupBase):
    __tablename__ = "groups"
    __table_args__ = (
        UniqueConstraint("tenant", "name", name="uq_groups_tenant_name"),
        Index("ix_groups_tenant_created", "tenant", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
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


class KnownDevice(Tombstone, GroupBase):
    """A device id this service has named (tombstone: ``removed_at`` once removed)."""

    __tablename__ = "known_devices"


class KnownUser(Tombstone, GroupBase):
    """A user id this service has named (tombstone: ``removed_at`` once removed)."""

    __tablename__ = "known_users"
