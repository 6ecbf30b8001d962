from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, MetaData, String, UniqueConstraint
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
