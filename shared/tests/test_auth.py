"""Token verification on every non-public endpoint."""

from __future__ import annotations

import time

import jwt
import pytest

from oms_shared.testing import token_for

SECRET = "test-secret-" + "x" * 40


def _call(client, token=None, header="Token"):
    headers = {}
    if token is not None:
        headers[header] = token if header == "Token" else f"Bearer {token}"
    return client.post("/oms/note/list", headers=headers)


def test_no_token_is_40100(client):
    response = _call(client)
    assert response.status_code == 401
    assert response.get_json()["code"] == 40100


def test_valid_token_in_either_header(client, app):
    token = token_for(app)
    assert _call(client, token).status_code == 200
    assert _call(client, token, header="Authorization").status_code == 200


def _claims(**overrides):
    now = int(time.time())
    claims = {"iss": "oms", "sub": "test-app", "tenant": "t1", "iat": now, "exp": now + 60,
              "jti": "j1", "gen": 1}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize("token", [
    pytest.param(jwt.encode(_claims(), "another-key-" + "y" * 40, algorithm="HS256"),
                 id="wrong-key"),
    pytest.param(jwt.encode(_claims(exp=int(time.time()) - 5), SECRET, algorithm="HS256"),
                 id="expired"),
    pytest.param(jwt.encode(_claims(iss="someone"), SECRET, algorithm="HS256"), id="wrong-issuer"),
    pytest.param(jwt.encode(_claims(jti=None), SECRET, algorithm="HS256"), id="no-jti"),
    pytest.param(jwt.encode(_claims(), SECRET, algorithm="HS384"), id="other-algorithm"),
    pytest.param(jwt.encode(_claims(), None, algorithm="none"), id="alg-none"),
    pytest.param("not.a.token", id="garbage"),
])
def test_bad_tokens_are_40101(client, app, token):
    app.extensions["oms"].revocations.publish_generation("test-app", 1)
    response = _call(client, token)
    assert response.status_code == 401
    assert response.get_json()["code"] == 40101


def test_tampered_token_is_40101(client, app):
    token = token_for(app)
    header, payload, signature = token.split(".")
    forged = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"t1"', b'"t2"')).decode()
    assert _call(client, f"{header}.{forged}.{signature}").get_json()["code"] == 40101


def test_bumped_generation_revokes_at_once(client, app):
    token = token_for(app, app_id="gen-app", generation=3)
    assert _call(client, token).status_code == 200
    oms = app.extensions["oms"]
    store = oms.revocations
    store.publish_generation("gen-app", 4)
    assert _call(client, token).get_json()["code"] == 40101


def test_health_needs_no_token(client):
    assert client.get("/healthz").get_json()["data"]["status"] == "ok"
    assert client.get("/readyz").get_json()["data"]["checks"] == {"redis": "ok", "database": "ok"}


def test_the_watcher_sees_a_revocation_without_asking_redis(app, client):
    """What a gunicorn worker runs: the local copy follows the announcement."""
    import time as clock

    from oms_shared._revocation import GenerationWatcher

    oms = app.extensions["oms"]
    store = oms.revocations
    watcher = GenerationWatcher(store)
    watcher.start()
    oms.extra["revocation_watcher"] = watcher
    try:
        deadline = clock.monotonic() + 5
        while not watcher.subscribed and clock.monotonic() < deadline:
            clock.sleep(0.01)
        assert watcher.subscribed
        token = token_for(app, app_id="watched-app", generation=7)
        assert _call(client, token).status_code == 200
        assert watcher.get("watched-app") == 7  # remembered: no Redis read next time
        store.publish_generation("watched-app", 8)
        deadline = clock.monotonic() + 2
        while watcher.get("watched-app") != 8 and clock.monotonic() < deadline:
            clock.sleep(0.005)
        assert _call(client, token).get_json()["code"] == 40101
    finally:
        watcher.stop()
        watcher.join(3)


def test_without_a_subscription_the_watcher_knows_nothing(app):
    from oms_shared._revocation import GenerationWatcher

    oms = app.extensions["oms"]
    watcher = GenerationWatcher(oms.revocations)
    watcher.remember("some-app", 3, watcher.epoch)  # never started, so never subscribed
    assert watcher.get("some-app") is None


def test_a_read_that_straddles_the_subscription_is_not_kept(app):
    """Read gen 1, miss the announcement of gen 2 while subscribing: keep nothing."""
    from oms_shared._revocation import GenerationWatcher

    oms = app.extensions["oms"]
    watcher = GenerationWatcher(oms.revocations)
    epoch = watcher.epoch  # not subscribed yet: None
    watcher._subscribe_confirmed()  # the subscription completes meanwhile
    watcher.remember("racing-app", 1, epoch)
    assert watcher.get("racing-app") is None
    watcher.remember("racing-app", 1, watcher.epoch)
    assert watcher.get("racing-app") == 1
