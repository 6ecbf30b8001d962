"""One SQLAlchemy session per request: committed on success, rolled back on error.

Service functions only ``flush()``; the request boundary commits. Tests swap
:attr:`Database.sessionmaker` for one bound to an outer transaction that they
roll back (see ``oms_shared.testing``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from flask import Flask, Response, current_app, g
from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy import delete as sql_delete
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from oms_shared import _migrations as migrations
from oms_shared._envelope import error_for, error_response
from oms_shared._errors import NotFound
from oms_shared._secrets import attach

__all__ = ["MAX_INT_ID", "Base", "Database", "delete_or_404", "end_read", "get_in_tenant",
           "get_or_404", "int_id", "make_engine", "new_uuid", "on_commit", "on_finish", "str_id"]

T = TypeVar("T")


class Base(DeclarativeBase):
    """Each service subclasses this once, abstract and with a ``MetaData()`` of its own,
    so its tables (and migrations) never mix with another service's, even in a
    process that imports several (tests, the OpenAPI export)."""

    __abstract__ = True


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not pysqlite, decide where transactions begin, so that
    # SAVEPOINTs work (the SQLAlchemy docs' pysqlite recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _private_file(path: Path) -> None:
    """The database file (and its WAL, which SQLite creates with the file's mode) readable
    by the platform's user only: it holds secrets."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for companion in (path, path.with_name(path.name + "-wal"),
                      path.with_name(path.name + "-shm")):
        if companion.exists() and companion.stat().st_mode & 0o077:
            companion.chmod(0o600)


def _compact_json(value: object) -> str:
    """JSON columns as the size limits measure them (no escapes, no padding)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_file(Path(parsed.database))
        engine = create_engine(url, connect_args={"timeout": 10}, hide_parameters=True,
                               json_serializer=_compact_json)
        event.listen(engine, "connect", _sqlite_pragmas)
        # IMMEDIATE: take the write lock up front rather than fail on upgrading it.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10,
                         json_serializer=_compact_json,
                         hide_parameters=True)  # bound values (secrets) never reach a log


class _State:
    def __init__(self, engine: Engine, metadata: MetaData, service: str, package: str) -> None:
        self.engine = engine
        self.metadata = metadata
        self.service = service
        self.package = package
        self.sessionmaker = sessionmaker(bind=engine, expire_on_commit=False)

    def create_all(self) -> None:
        """The tables straight from the models (tests); serialised on PostgreSQL."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
                             {"name": "oms-schema"})
            self.metadata.create_all(conn)

    def migrate(self) -> None:
        """The tables through the service's migrations (what deployments run)."""
        migrations.upgrade(self.engine, self.metadata, service=self.service,
                           package=self.package)


class Database:
    """Flask extension: ``db.init_app(app, metadata)``, then ``db.session``."""

    def init_app(self, app: Flask, metadata: MetaData) -> None:
        """``metadata`` is the service's; its migrations are in ``<package>/migrations``."""
        oms = app.extensions["oms"]
        url = oms.settings.database_url(oms.service)
        package = app.import_name.split(".")[0]
        engine = make_engine(url)
        attach(engine, oms.secrets)  # its encrypted columns seal and open with the service's keys
        app.extensions["oms_db"] = _State(engine, metadata, oms.service, package)
        app.after_request(self._commit)
        app.teardown_request(self._close)

    @staticmethod
    def _state() -> _State:
        return current_app.extensions["oms_db"]

    def create_all(self) -> None:
        self._state().create_all()

    @property
    def engine(self) -> Engine:
        return self._state().engine

    @property
    def sessionmaker(self) -> sessionmaker:
        return self._state().sessionmaker

    @sessionmaker.setter
    def sessionmaker(self, factory: sessionmaker) -> None:
        self._state().sessionmaker = factory

    @property
    def session(self) -> Session:
        session = g.get("oms_db_session")
        if session is None:
            session = g.oms_db_session = self._state().sessionmaker()
        return session

    @staticmethod
    def _commit(response: Response) -> Response:
        session: Session | None = g.get("oms_db_session")
        if session is None or response.status_code >= 400:
            return response
        try:
            session.commit()
        except Exception as exc:  # the work is lost: say why, in the envelope
            session.rollback()
            return error_response(error_for(exc))
        return response

    @staticmethod
    def _close(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("oms_db_session", None)
        if session is not None:
            session.rollback()
            session.close()
            _run(session.info.pop("oms_on_finish", []))  # no transaction ever began


    @contextmanager
    def scoped(self) -> Iterator[Session]:
        """A session outside a request (CLI, background jobs), committed on success."""
        with self._state().sessionmaker() as session, session.begin():
            yield session


def end_read(session: Session) -> None:
    """End a read-only transaction before a call to another service, so no lock (SQLite's
    is database-wide) is held across the call. The one place a flow ends a transaction
    itself: it refuses if the session has changes, which only the request may commit."""
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("end_read: the session has changes; only the request commits them")
    session.commit()


def on_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's transaction has committed (never on rollback).

    For what must follow the data, not precede it: publishing a cache entry.
    """
    session.info.setdefault("oms_after_commit", []).append(action)


def on_finish(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's transaction ends, committed or rolled back.

    For releasing what was claimed for the transaction's sake (a mark in Redis).
    """
    session.info.setdefault("oms_on_finish", []).append(action)


def _run(actions: list[Callable[[], None]]) -> None:
    for action in actions:
        try:
            action()
        except Exception:  # the transaction is over; a failed follow-up must not undo it
            logging.getLogger("oms.database").exception("after-transaction action failed")


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT released: the transaction is not committed yet
    _run(session.info.pop("oms_after_commit", []) + session.info.pop("oms_on_finish", []))


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop("oms_after_commit", None)
        _run(session.info.pop("oms_on_finish", []))


MAX_INT_ID = 2**31 - 1  # integer keys are 32-bit columns


def int_id(value: object) -> int | None:
    """A path id as an integer key, or None when it cannot name a row (behaves as missing)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = str(value)
        if not (text.isascii() and text.isdigit()) or len(text) > 10:
            return None
        number = int(text)
    return number if 0 < number <= MAX_INT_ID else None


_STR_KEY = re.compile(r"[A-Za-z0-9_-]{1,36}")


def str_id(value: object) -> str | None:
    """A path or body id as a string key (users, groups, devices: UUIDs), or None when it
    cannot name a row (too long, odd characters): it then behaves as missing."""
    return value if isinstance(value, str) and _STR_KEY.fullmatch(value) else None


def new_uuid() -> str:
    """A new string key."""
    return str(uuid.uuid4())


def get_in_tenant(session: Session, model: type[T], ident: object, tenant: str) -> T | None:
    """The row with that primary key if it belongs to the tenant: another tenant's row
    is as missing as one that does not exist."""
    obj = session.get(model, ident) if ident is not None else None
    return obj if obj is not None and getattr(obj, "tenant", None) == tenant else None


def delete_or_404(session: Session, obj: object, *, resource: str) -> None:
    """Delete ``obj``'s row as the one caller who removes it, or :class:`NotFound`.

    One ``DELETE`` by primary key whose row count says whether this transaction took the
    row: a removal racing it has either committed first (no row: 40401) or holds the row
    until its transaction ends (PostgreSQL: this statement waits for its lock, then finds
    nothing; SQLite: one write transaction at a time). So of any number of concurrent
    removals exactly one succeeds. ``session.delete`` cannot say so: a row already gone
    is only a warning to it, and every racer answered 200. The rows that name it by
    foreign key go by the database's ``ON DELETE CASCADE``, as before."""
    state = sa_inspect(obj)
    mapper = state.mapper
    key = state.identity or mapper.primary_key_from_instance(obj)  # no load: it may be gone
    result = session.execute(  # "evaluate": the object leaves the session as deleted
        sql_delete(mapper.class_).where(*(
            mapper.get_property_by_column(column).class_attribute == value
            for column, value in zip(mapper.primary_key, key, strict=True))),
        execution_options={"synchronize_session": "evaluate"})
    if result.rowcount != 1:
        raise NotFound(resource, key[0] if len(key) == 1 else None)


def get_or_404(session: Session, model: type[T], ident: object, *, tenant: str,
               resource: str | None = None) -> T:
    """The tenant's row with that primary key, or :class:`NotFound`."""
    obj = get_in_tenant(session, model, ident, tenant)
    if obj is None:
        raise NotFound(resource or model.__name__.lower(), ident)
    return obj
