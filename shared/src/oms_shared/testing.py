"""The services' test kit: an app in a rolled-back transaction, an API client with a
tenant's token, a real HTTP server for a peer, ``wait_until`` instead of sleeps,
``free_port``."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy.orm import sessionmaker

from oms_shared._migrations import _config
from oms_shared._ports import free_port
from oms_shared._tokens import issue

__all__ = ["ApiClient", "app_in_transaction", "free_port", "migration_config", "rolled_back",
           "serving", "sign", "token_for", "wait_until"]


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
              generation: int = 1, scope: str = "tenant") -> str:
    """A valid token for a made-up app (a tenant app unless ``scope="operator"``), its
    generation published to Redis."""
    oms = app.extensions["oms"]
    oms.revocations.publish_generation(app_id, generation)
    token, _ = issue(secret=oms.settings.jwt.secret.get_secret_value(),
                     issuer=oms.settings.jwt.issuer, app_id=app_id, tenant=tenant,
                     generation=generation, ttl=600, scope=scope)
    return token


def wait_until(condition: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.05,
               what: str = "the condition") -> Any:
    """Poll ``condition`` until it returns something truthy, and return that; fail the
    test with ``what`` named if it does not within ``timeout`` seconds. Instead of sleeps."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(interval)


class ApiClient:
    """An app under test called like the API: POST, JSON, a tenant's token, envelopes.

    ``client.data(path, body)`` returns the envelope's ``data`` and fails the test unless
    the code is 0; ``client.error(path, body)`` returns the envelope of an expected error.
    """

    def __init__(self, app: Flask, *, tenant: str = "t1", app_id: str | None = None) -> None:
        self.app = app
        self.tenant = tenant
        self.token = token_for(app, app_id=app_id or f"app-{tenant}", tenant=tenant)
        self.http = app.test_client()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        headers = {"Token": self.token, **kwargs.pop("headers", {})}
        return self.http.post(path, json={} if body is None else body, headers=headers,
                              **kwargs)

    def data(self, path: str, body: Any = None) -> Any:
        response = self.post(path, body)
        envelope = response.get_json()
        assert response.status_code == 200 and envelope["code"] == 0, envelope
        return envelope["data"]

    def error(self, path: str, body: Any = None, *, status: int, code: int) -> dict[str, Any]:
        response = self.post(path, body)
        envelope = response.get_json()
        assert (response.status_code, envelope["code"]) == (status, code), envelope
        return envelope


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """The app served over real HTTP on a free port in a thread, for a peer service to
    call (``{"device": {"url": url}}``); yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="oms-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def migration_config(connection: Any, metadata: Any, *, service: str, package: str) -> Any:
    """Alembic's configuration of a service's migrations on ``connection``, for a test
    that walks the revisions (``alembic.command.upgrade(config, revision)``)."""
    return _config(connection, metadata, service, package)
