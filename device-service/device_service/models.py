from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from oms_shared import Base, EncryptedString, utcnow


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
    #: sealed at rest (AES-GCM under secrets.keys); 32 hex characters in the clear. Loaded
    #: (and opened) only when read: lists and briefs never show it.
    device_secret: Mapped[str] = mapped_column(EncryptedString(64), deferred=True)
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
# unreachable and age out. ``id`` grows with arrival, which the chunked purge walks.
#
# On PostgreSQL the three log tables are partitioned by range of ``received_on``, the UTC
# day the platform stored the row: one partition a day (``<table>_p20261130``, made ahead
# by the ingest worker, see ``device_service.logs``) and a default one
# (``<table>_default``) so that no insert can fail; retention drops whole partitions.
# PostgreSQL wants the partition key in every unique constraint, so the primary key is
# (id, received_on) there and the dedupe key is (device, message id[, identifier], day);
# ``device_service.ingest`` also looks into the day before, so a copy that arrives after
# midnight is still recognised. SQLite has no partitions: the same columns and unique
# constraints, ``id`` alone as primary key (AUTOINCREMENT needs exactly that), and the
# chunked delete.

#: 64-bit keys on PostgreSQL; SQLite's AUTOINCREMENT needs exactly ``INTEGER`` (64-bit there).
LogId = BigInteger().with_variant(Integer(), "sqlite")

#: What the log tables share as table options: partitions on PostgreSQL, AUTOINCREMENT
#: on SQLite.
LOG_TABLE_OPTIONS = {"postgresql_partition_by": "RANGE (received_on)",
                     "sqlite_autoincrement": True}

# Paths through devices (the broker hands us product key and device name).
Index("ix_devices_product_key_device_name", Device.product_key, Device.device_name)


def _log_key(table: str) -> PrimaryKeyConstraint:
    """``id`` as the primary key as SQLAlchemy and SQLite see it; PostgreSQL gets
    (id, received_on) instead (:func:`_partitioned`)."""
    return PrimaryKeyConstraint("id", name=f"{table}_pkey").ddl_if(dialect="sqlite")


class PropertyLog(DeviceBase):
    """One reported value of one property: a report of n properties is n rows."""

    __tablename__ = "property_logs"
    __table_args__ = (
        _log_key("property_logs"),
        UniqueConstraint("device_id", "message_id", "identifier", "received_on",
                         name="uq_property_logs_device_message_identifier_day"),
        Index("ix_property_logs_device_time", "device_id", "time", "id"),
        Index("ix_property_logs_device_identifier_time", "device_id", "identifier", "time",
              "id"),
        LOG_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(LogId, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(36))
    tenant: Mapped[str] = mapped_column(String(64))
    identifier: Mapped[str] = mapped_column(String(64))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the device's, UTC
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_on: Mapped[date] = mapped_column(Date)  # received_at's UTC day: the partition
    message_id: Mapped[str] = mapped_column(String(64))


class EventLog(DeviceBase):
    __tablename__ = "event_logs"
    __table_args__ = (
        _log_key("event_logs"),
        UniqueConstraint("device_id", "message_id", "received_on",
                         name="uq_event_logs_device_message_day"),
        Index("ix_event_logs_device_time", "device_id", "time", "id"),
        Index("ix_event_logs_device_identifier_time", "device_id", "identifier", "time", "id"),
        LOG_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(LogId, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(36))
    tenant: Mapped[str] = mapped_column(String(64))
    identifier: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))  # info | alert | error
    params: Mapped[Any] = mapped_column(JSON, nullable=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_on: Mapped[date] = mapped_column(Date)
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
        _log_key("rejected_messages"),
        UniqueConstraint("device_id", "topic", "message_id", "received_on",
                         name="uq_rejected_messages_device_topic_message_day"),
        Index("ix_rejected_messages_device_received", "device_id", "received_at"),
        LOG_TABLE_OPTIONS,
    )

    id: Mapped[int] = mapped_column(LogId, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(36))
    tenant: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(128))  # after /sys/{pk}/{dn}/, e.g. thing/...
    message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    code: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)  # at most PAYLOAD_KEPT characters
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_on: Mapped[date] = mapped_column(Date)


#: The tables devices' reports fill, partitioned by day on PostgreSQL.
LOG_TABLES = (PropertyLog.__table__, EventLog.__table__, RejectedMessage.__table__)


def _partitioned(table: Table) -> None:
    """On PostgreSQL, what ``CREATE TABLE`` cannot say for a log table: its primary key
    (with the partition key) and its default partition."""
    name = table.name
    for statement in (
            f"ALTER TABLE {name} ADD CONSTRAINT {name}_pkey PRIMARY KEY (id, received_on)",
            f"CREATE TABLE {name}_default PARTITION OF {name} DEFAULT"):
        event.listen(table, "after_create", DDL(statement).execute_if(dialect="postgresql"))


for _table in LOG_TABLES:
    _partitioned(_table)
