"""Queries over group jobs and their commands. Functions flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from command_service.models import Command, Job
from command_service.schemas import JobQuery
from oms_shared import NotFound, utcnow

ACTIVE = ("queued", "sent")  # a job is running while any of its commands is


def create(*, session: Session, job: Job, commands: Sequence[dict[str, Any]]) -> Job:
    session.add(job)
    session.flush()
    for start in range(0, len(commands), 1000):
        session.execute(insert(Command), list(commands[start:start + 1000]))
    return job


def get_or_raise(*, session: Session, tenant: str, job_id: str) -> Job:
    job = session.get(Job, job_id) if len(job_id) <= 36 else None
    if job is None or job.tenant != tenant:
        raise NotFound("job", job_id)
    return job


def counts(*, session: Session, job_id: str) -> dict[str, int]:
    rows = session.execute(select(Command.status, func.count()).where(Command.job_id == job_id)
                           .group_by(Command.status)).all()
    return {status: n for status, n in rows}


def results(*, session: Session, job_id: str, query: JobQuery) -> list[Command]:
    stmt = select(Command).where(Command.job_id == job_id)
    if query.status is not None:
        stmt = stmt.where(Command.status == query.status)
    stmt = stmt.order_by(Command.id).limit(query.page_size).offset(query.offset)
    return list(session.scalars(stmt))


def cancel(*, session: Session, job: Job) -> None:
    """Stop a running job: its commands not sent yet are cancelled."""
    if job.status != "running":
        return
    session.execute(update(Command).where(Command.job_id == job.id, Command.status == "queued")
                    .values(status="cancelled"))
    job.status = "cancelled"
    job.finished_at = utcnow()
    session.flush()


def running(*, session: Session) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.status == "running")
                                .order_by(Job.created_at)))


def next_queued(*, session: Session, job_id: str, limit: int) -> list[Command]:
    """The job's next commands to send, claimed (``SKIP LOCKED`` on PostgreSQL, so two
    dispatchers never send one command twice)."""
    stmt = (select(Command).where(Command.job_id == job_id, Command.status == "queued")
            .order_by(Command.id).limit(limit).with_for_update(skip_locked=True))
    return list(session.scalars(stmt))


def finish_if_done(*, session: Session, job: Job, now: datetime) -> bool:
    active = session.scalar(select(func.count()).where(Command.job_id == job.id,
                                                       Command.status.in_(ACTIVE)))
    if active:
        return False
    job.status = "done"
    job.finished_at = now
    session.flush()
    return True
