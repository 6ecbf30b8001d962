"""Keeping a row of ours from outliving another service's removal of what it names.

A binding names a device the device service owns; a membership names a user the user
service owns. Creating one checks with the owner first (over HTTP, before the
transaction), and the owner announces a removal after it commits (an event), which a
consumer here applies. Between the check and our commit the owner may remove the thing
and our consumer may apply it: the new row would then outlive the removal. Tombstones
close that gap. A service keeps one row per foreign id it has seen (``id``, ``tenant``,
``removed_at``):

* creating a row that names ``id`` first calls :func:`claim_alive`, which creates the
  tombstone row if missing and locks it until the transaction ends, and refuses
  (returns False) if it says removed;
* the consumer applying a removal calls :func:`bury` (sets ``removed_at``, locking the
  same rows) before it deletes the rows that name them.

Whichever transaction takes the row first, the other waits for it (PostgreSQL row
locks; SQLite runs one write transaction at a time): a claim after the burial refuses,
a burial after the claim deletes what the claim added. Ids are UUIDs, never reused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, String, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from oms_shared._times import utcnow

__all__ = ["Tombstone", "bury", "claim_alive", "purge_buried"]

CHUNK = 500


class Tombstone:
    """The columns of a tombstone table: ``class KnownDevice(Tombstone, UserBase):
    __tablename__ = "known_devices"``."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True,
                                                        default=None)


def _insert_missing(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(model.__table__).on_conflict_do_nothing(index_elements=["id"])
    for start in range(0, len(rows), CHUNK):
        session.execute(statement, rows[start:start + CHUNK])


def claim_alive(session: Session, model: Any, *, ids: Sequence[str], tenant: str) -> set[str]:
    """Lock the tombstone rows of ``ids`` until the transaction ends (creating them) and
    return those not removed: only rows naming these may be created."""
    wanted = sorted(set(ids))  # one lock order for everyone: no deadlock
    if not wanted:
        return set()
    _insert_missing(session, model, [{"id": i, "tenant": tenant, "removed_at": None}
                                     for i in wanted])
    alive: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        alive.update(session.scalars(
            select(model.id).where(model.id.in_(chunk), model.removed_at.is_(None))
            .order_by(model.id).with_for_update()))
    return alive


def bury(session: Session, model: Any, *, ids: Iterable[str], tenant: str) -> None:
    """Mark ``ids`` removed (creating their rows), locking them until the transaction
    ends; then delete what names them in the same transaction."""
    wanted = sorted(set(ids))
    now = utcnow()
    _insert_missing(session, model, [{"id": i, "tenant": tenant, "removed_at": now}
                                     for i in wanted])
    for start in range(0, len(wanted), CHUNK):
        session.execute(update(model).where(model.id.in_(wanted[start:start + CHUNK]),
                                            model.removed_at.is_(None))
                        .values(removed_at=now))


def purge_buried(session: Session, model: Any, *, older_than: timedelta) -> int:
    """Forget tombstones of removals long applied (a claim only races a fresh one)."""
    cutoff: datetime = utcnow() - older_than
    result = session.execute(delete(model).where(model.removed_at < cutoff))
    return result.rowcount or 0
