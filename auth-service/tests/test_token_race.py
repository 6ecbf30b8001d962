"""A token is never signed with a generation newer than the app row it was checked
against, even when a disable or a rotation commits while the request is checked.

The interleaving is forced, not hoped for: when the token request loads the app's
row, another thread runs the revocation in its own transaction and is given a second
to commit before the token request goes on.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import event

from auth_service import apps, flows
from auth_service.app import create_app
from auth_service.db import db
from auth_service.models import App
from oms_shared import TokenInvalid, decode_token, state
from oms_shared.testing import sign


@pytest.fixture
def committed_app(base_config: dict[str, Any], empty_database_url: str):
    """An auth app whose requests really commit (two transactions must meet)."""
    app = create_app({**base_config, "auth": {"database_url": empty_database_url}})
    app.extensions["oms_db"].create_all()
    yield app
    app.extensions["oms_db"].engine.dispose()


def _revoke(app, app_id: str, how: str) -> None:
    with app.app_context(), db.scoped() as session:
        if how == "disable":
            flows.set_enabled(session=session, oms=state(), app_id=app_id, enabled=False)
        else:
            flows.rotate_secret(session=session, oms=state(), app_id=app_id)


def _is_live(app, token: str) -> bool:
    oms = app.extensions["oms"]
    claims = decode_token(token, secret=oms.settings.jwt.secret.get_secret_value(), issuer="oms")
    try:
        oms.revocations.check(claims)
    except TokenInvalid:
        return False
    return True


@pytest.mark.parametrize("how", ["disable", "rotate"])
def test_a_revocation_committing_during_the_check_never_yields_a_live_token(committed_app,
                                                                          how):
    with committed_app.app_context(), db.scoped() as session:
        row = apps.create(session=session, tenant="acme")
        app_id, secret = row.app_id, row.secret
    client = committed_app.test_client()
    ts = str(int(time.time()))
    body = {"app_id": app_id, "timestamp": ts, "sign": sign(app_id, ts, secret)}
    assert client.post("/oms/auth/token", json=body).status_code == 200  # gen 1 is in Redis

    revoker: list[threading.Thread] = []

    def on_load(target: App, _context: object) -> None:
        if revoker or target.app_id != app_id or threading.current_thread() is not main:
            return
        thread = threading.Thread(target=_revoke, args=(committed_app, app_id, how))
        revoker.append(thread)
        thread.start()
        thread.join(0.5)  # without the row lock the revocation commits right here

    main = threading.current_thread()
    event.listen(App, "load", on_load)
    try:
        ts2 = str(int(time.time()) + 1)  # a new signed request (not the cached token)
        response = client.post("/oms/auth/token", json={
            "app_id": app_id, "timestamp": ts2, "sign": sign(app_id, ts2, secret)})
    finally:
        event.remove(App, "load", on_load)
        for thread in revoker:
            thread.join(15)
    assert revoker, "the interleaving was not forced"
    envelope = response.get_json()
    if response.status_code == 200:  # issued before the revocation: it must be dead now
        assert not _is_live(committed_app, envelope["data"]["token"])
    else:  # or the request saw the revocation
        assert envelope["code"] in (40110, 40111)
