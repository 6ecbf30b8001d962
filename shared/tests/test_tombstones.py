"""A row naming another service's thing never outlives that thing's removal, whichever
of the claim and the burial takes the tombstone first (both databases)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import DateTime, MetaData, String, delete, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from oms_shared import Base, bury, claim_alive, purge_buried
from oms_shared._database import make_engine


class _Base(Base):
    __abstract__ = True
    metadata = MetaData()


class KnownDevice(_Base):
    __tablename__ = "tomb_known_devices"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Link(_Base):
    """What a binding is to a device: a row that names it."""

    __tablename__ = "tomb_links"
    device_id: Mapped[str] = mapped_column(String(36), primary_key=True)


@pytest.fixture
def engine(empty_database_url):
    engine = make_engine(empty_database_url)
    _Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _link(engine, device_id: str, pause: float = 0.0) -> bool:
    """The creating side: claim, then add the row (unless buried)."""
    with Session(engine) as session, session.begin():
        if device_id not in claim_alive(session, KnownDevice, ids=[device_id], tenant="t"):
            return False
        session.add(Link(device_id=device_id))
        session.flush()
        time.sleep(pause)  # the burial arrives now, and must wait for this transaction
    return True


def _remove(engine, device_ids: list[str]) -> None:
    """The consumer applying a removal: bury, then delete what names them."""
    with Session(engine) as session, session.begin():
        bury(session, KnownDevice, ids=device_ids, tenant="t")
        session.execute(delete(Link).where(Link.device_id.in_(device_ids)))


def _links(engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Link))


def test_a_claim_after_the_burial_is_refused(engine):
    _remove(engine, ["d1"])
    assert _link(engine, "d1") is False
    assert _links(engine) == 0
    assert _link(engine, "d2") is True  # others are untouched


def test_a_burial_during_a_claim_waits_and_removes_what_it_added(engine):
    started = threading.Event()
    result: list[bool] = []

    def claimer() -> None:
        started.set()
        result.append(_link(engine, "d1", pause=0.5))

    thread = threading.Thread(target=claimer)
    thread.start()
    started.wait()
    time.sleep(0.2)  # the claim holds the tombstone now
    _remove(engine, ["d1"])  # waits for the claim's commit, then deletes its row
    thread.join()
    assert result == [True]
    assert _links(engine) == 0
    assert _link(engine, "d1") is False


def test_burying_is_idempotent_and_purging_forgets_old_tombstones(engine):
    _remove(engine, ["d1", "d2"])
    _remove(engine, ["d2", "d1"])
    with Session(engine) as session, session.begin():
        assert purge_buried(session, KnownDevice, older_than=timedelta(days=1)) == 0
        assert purge_buried(session, KnownDevice, older_than=timedelta(seconds=-1)) == 2
