"""The command service's tables: every command sent to a device, and group jobs.

A command row is written (and committed) before the command is published, so nothing
reaches a device that this table does not show; the device's reply, whenever it comes,
is written onto the same row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from oms_shared import Base, new_uuid, utcnow

CommandId = BigInteger().with_variant(Integer, "sqlite")  # SQLite: a rowid alias


class CommandBase(Base):
    __abstract__ = True
    metadata = MetaData()


class Command(CommandBase):
    """One property set or service call to one device, and what became of it.

    ``status``: ``queued`` (a group job's, not sent yet), ``sent``, ``succeeded``,
    ``failed`` (the device answered with a code other than 200), ``timed_out`` (no
    answer in time; a late answer still turns it into succeeded/failed),
    ``undeliverable`` (the device was offline or disabled when its turn came) or
    ``cancelled`` (its job was cancelled before it was sent).
    """

    __tablename__ = "commands"
    __table_args__ = (
        UniqueConstraint("message_id", name="uq_commands_message_id"),
        Index("ix_commands_tenant_device_created", "tenant", "device_id", "created_at", "id"),
        Index("ix_commands_job_status", "job_id", "status"),
        Index("ix_commands_status_deadline", "status", "deadline"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(CommandId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(32))
    tenant: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(36))
    product_key: Mapped[str] = mapped_column(String(64))
    device_name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # property_set | service
    identifier: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the service
    call_type: Mapped[str] = mapped_column(String(8))  # sync | async
    params: Mapped[Any] = mapped_column(JSON)
    user_id: Mapped[str] = mapped_column(String(36))
    app_id: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    data: Mapped[Any] = mapped_column(JSON, nullable=True)
    timeout_ms: Mapped[int] = mapped_column(Integer)
    reply_to: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    replied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                        nullable=True)


class Job(CommandBase):
    """A command sent to every device of a group, at ``rate`` devices per second."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    group_id: Mapped[str] = mapped_column(String(36))
    user_id: Mapped[str] = mapped_column(String(36))
    app_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    identifier: Mapped[str | None] = mapped_column(String(64), nullable=True)
    params: Mapped[Any] = mapped_column(JSON)
    rate: Mapped[int] = mapped_column(Integer)  # devices per second
    timeout_ms: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # running | done | cancelled
    total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                         nullable=True)
