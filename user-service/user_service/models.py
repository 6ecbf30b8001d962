"""The user service's tables: users, their bindings to devices, and the devices it has
heard of (tombstones: a binding never outlives the removal of its device)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, MetaData, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from oms_shared import Base, Tombstone, new_uuid, utcnow

ID_LENGTH = 36  # a UUID string


class UserBase(Base):
    __abstract__ = True
    metadata = MetaData()


class User(UserBase):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("tenant", "username", name="uq_users_tenant_username"),
        Index("ix_users_tenant_created", "tenant", "created_at", "id"),  # newest first
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True, default=new_uuid)
    tenant: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(64))
    nickname: Mapped[str] = mapped_column(String(64), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), default="enable")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)

    def __repr__(self) -> str:  # never the hash
        return f"User(id={self.id!r}, username={self.username!r}, tenant={self.tenant!r})"


class Binding(UserBase):
    """A user bound to a device (owned by the device service) as owner or member."""

    __tablename__ = "bindings"
    __table_args__ = (
        Index("ix_bindings_tenant_device", "tenant", "device_id"),
        Index("uq_bindings_device_owner", "device_id", unique=True,
              sqlite_where=text("role = 'owner'"), postgresql_where=text("role = 'owner'")),
        # a user's devices, newest binding first (§4.5 paging)
        Index("ix_bindings_user_bound", "user_id", "bound_at", "device_id"),
    )

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    device_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16), default="member")
    bound_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class KnownDevice(Tombstone, UserBase):
    """A device a binding has named: ``removed_at`` is set once its removal is applied
    (``oms_shared.claim_alive`` / ``bury``)."""

    __tablename__ = "known_devices"
