"""Helpers for the services' tests: rolled-back transactions and signed tokens."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy.orm import sessionmaker

from oms_shared._revocation import RevocationStore
from oms_shared._tokens import issue

__all__ = ["app_in_transaction", "rolled_back", "sign", "token_for"]


def sign(app_id: str, timestamp: str, secret: str) -> str:
    """The token request's signature, as a client computes it."""
    return hashlib.md5(f"{app_id}{timestamp}{secret}".encode()).hexdigest()  # noqa: S324


@contextmanager
def rolled_back(app: Flask) -> Iterator[None]:
    """Run the app's requests inside one outer transaction, rolled back at the end.

    The SQLAlchemy recipe "joining a session into an external transaction":
    the request's ``commit()`` only releases a SAVEPOINT.
    """
    state = app.extensions["oms_db"]
    original = state.sessionmaker
    connection = state.engine.connect()
    outer = connection.begin()
    state.sessionmaker = sessionmaker(bind=connection, expire_on_commit=False,
                                      join_transaction_mode="create_savepoint")
    try:
        yield
    finally:
        state.sessionmaker = original
        outer.rollback()
        connection.close()


@contextmanager
def app_in_transaction(factory: Callable[[dict[str, Any]], Flask],
                       config: dict[str, Any]) -> Iterator[Flask]:
    """A service app with its tables created, every request of the test inside one
    rolled-back transaction, and its engine disposed afterwards."""
    app = factory(config)
    app.extensions["oms_db"].create_all()
    try:
        with rolled_back(app):
            yield app
    finally:
        app.extensions["oms_db"].engine.dispose()


def token_for(app: Flask, *, app_id: str = "test-app", tenant: str = "t1",
              generation: int = 1) -> str:
    """A valid token for a made-up app, its generation published to Redis."""
    oms = app.extensions["oms"]
    RevocationStore(oms.redis, oms.settings.redis.prefix).publish_generation(app_id, generation)
    token, _ = issue(secret=oms.settings.jwt.secret.get_secret_value(),
                     issuer=oms.settings.jwt.issuer, app_id=app_id, tenant=tenant,
                     generation=generation, ttl=600)
    return token
