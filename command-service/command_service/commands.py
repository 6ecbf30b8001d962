"""Queries over the command record. Functions flush, never commit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from command_service.models import Command
from command_service.schemas import CommandQuery
from oms_shared import history_page, utcnow

SUCCEEDED, FAILED = "succeeded", "failed"
OPEN = ("sent", "timed_out")  # a reply may still land on these


def create(*, session: Session, **fields: Any) -> Command:
    command = Command(**fields)
    session.add(command)
    session.flush()
    return command


def get(*, session: Session, message_id: str) -> Command | None:
    return session.scalar(select(Command).where(Command.message_id == message_id))


def get_all(*, session: Session, tenant: str, device_id: str,
            query: CommandQuery) -> dict[str, Any]:
    """A device's commands, newest first (by ``created_at``), by page or cursor."""
    where = [Command.tenant == tenant, Command.device_id == device_id]
    if query.status is not None:
        where.append(Command.status == query.status)
    if query.kind is not None:
        where.append(Command.kind == query.kind)
    return history_page(session, Command, where, query, time=Command.created_at)


def mark_sent(*, session: Session, command: Command, now: datetime | None = None) -> None:
    now = now or utcnow()
    command.status = "sent"
    command.sent_at = now
    command.deadline = now + timedelta(milliseconds=command.timeout_ms)
    session.flush()


def record_reply(*, session: Session, message_id: str, product_key: str, device_name: str,
                 code: int, data: Any, now: datetime) -> Command | None:
    """Write a device's reply onto its command (one still waiting or already timed out);
    None when the reply matches no open command of that device (a stranger's id, a
    repeat)."""
    command = session.scalar(select(Command).where(
        Command.message_id == message_id, Command.product_key == product_key,
        Command.device_name == device_name, Command.status.in_(OPEN)).with_for_update())
    if command is None:
        return None
    command.status = SUCCEEDED if code == 200 else FAILED
    command.code = code
    command.data = data
    command.replied_at = now
    session.flush()
    return command


def time_out(*, session: Session, message_ids: Iterable[str]) -> int:
    """Mark these commands timed out unless their reply has landed meanwhile."""
    ids = list(message_ids)
    if not ids:
        return 0
    result = session.execute(update(Command).where(Command.message_id.in_(ids),
                                                   Command.status == "sent")
                             .values(status="timed_out"))
    return result.rowcount or 0


def undeliverable(*, session: Session, message_ids: Iterable[str]) -> int:
    """The broker refused these commands, or their device was gone when their turn came."""
    ids = list(message_ids)
    if not ids:
        return 0
    result = session.execute(update(Command).where(Command.message_id.in_(ids),
                                                   Command.status.in_(("sent", "queued")))
                             .values(status="undeliverable"))
    return result.rowcount or 0


def overdue(*, session: Session, now: datetime, grace: timedelta,
            limit: int = 1000) -> list[str]:
    """Commands sent whose deadline passed ``grace`` ago with no reply (their waiter is
    gone, or they were asynchronous or a job's)."""
    return list(session.scalars(select(Command.message_id).where(
        Command.status == "sent", Command.deadline < now - grace).limit(limit)))
