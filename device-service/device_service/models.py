from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from oms_shared import Base, utcnow


class DeviceBase(Base):
    __abstract__ = True
    metadata = MetaData()


class Batch(DeviceBase):
    """A production batch: ``amount`` devices of one product, pending until confirmed."""

    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("tenant", "batch_no", name="uq_batches_tenant_batch_no"),
                      {"sqlite_autoincrement": True})  # ids are never reused

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(64))
    batch_no: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[int] = mapped_column(Integer, index=True)
    product_key: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(Integer)
    remark: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Device(DeviceBase):
    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("product_id", "device_name", name="uq_devices_product_device_name"),
        Index("ix_devices_batch_seq", "batch_id", "seq"),
        Index("ix_devices_tenant_status", "tenant", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[int] = mapped_column(Integer, index=True)
    product_key: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    batch_no: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)  # position in its batch, 1..amount
    name: Mapped[str] = mapped_column(String(64))
    device_name: Mapped[str] = mapped_column(String(64))
    device_secret: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="produced")
    remark: Mapped[str] = mapped_column(String(256), default="")
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    last_online_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                            default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)

    def __repr__(self) -> str:  # never the secret
        return f"Device(id={self.id!r}, device_name={self.device_name!r}, status={self.status!r})"


# ---- what devices report -------------------------------------------------------------------
# Written by the ingest worker (``device_service.ingest``), read by the log endpoints.
# Logs carry no foreign key to ``devices``: they are written in bulk and removed by age
# (``broker.log_retention_days``); a removed device's id is never reused, so its rows are
# unreachable and age out. ``id`` grows with arrival, which the retention purge walks.

#: 64-bit keys on PostgreSQL; SQLite's AUTOINCREMENT needs exactly ``INTEGER`` (64-bit there).
LogId = BigInteger().with_variant(Integer(), "sqlite")

# Paths through devices (the broker hands us product key and device name).
Index("ix_devices_product_key_device_name", Device.product_key, Device.device_name)


class PropertyLog(DeviceBase):
    """One reported value of one property: a report of n properties is n rows."""

    __tablename__ = "property_logs"
    __table_args__ = (
        UniqueConstraint("device_id", "message_id", "identifier",
                         name="uq_property_logs_device_message_identifier"),
        Index("ix_property_logs_device_time", "device_id", "time", "id"),
        Index("ix_property_logs_device_identifier_time", "device_id", "identifier", "time",
              "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(LogId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(36))
    tenant: Mapped[str] = mapped_column(String(64))
    identifier: Mapped[str] = mapped_column(String(64))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the device's, UTC
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[str] = mapped_column(String(64))


class EventLog(DeviceBase):
    __tablename__ = "event_logs"
    __table_args__ = (
        UniqueConstraint("device_id", "message_id", name="uq_event_logs_device_message"),
        Index("ix_event_logs_device_time", "device_id", "time", "id"),
        Index("ix_event_logs_device_identifier_time", "device_id", "identifier", "time", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(LogId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(36))
    tenant: Mapped[str] = mapped_column(String(64))
    identifier: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))  # info | alert | error
    params: Mapped[Any] = mapped_column(JSON, nullable=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[str] = mapped_column(String(64))


class DeviceProperty(DeviceBase):
    """A device's latest value of each property (what ``/oms/device/detail`` shows)."""

    __tablename__ = "device_properties"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"),
                                           primary_key=True)
    identifier: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RejectedMessage(DeviceBase):
    """A report the thing model refused (or that was no valid message at all): kept, with
    why, for as long as the logs are, so an operator can see what a device sends."""

    __tablename__ = "rejected_messages"
    __table_args__ = (
        UniqueConstraint("device_id", "topic", "message_id",
                         name="uq_rejected_messages_device_topic_message"),
        Index("ix_rejected_messages_device_received", "device_id", "received_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(LogId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(36))
    tenant: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(128))  # after /sys/{pk}/{dn}/, e.g. thing/...
    message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    code: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)  # at most PAYLOAD_KEPT characters
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
