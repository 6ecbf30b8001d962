"""The ``apps`` commands, and the revocation they cause on every instance."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

from auth_service.app import create_app
from oms_shared import TokenInvalid, decode_token


def _run(app, *args):
    result = app.test_cli_runner().invoke(args=["apps", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _token(client, body):
    return client.post("/oms/auth/token", json=body).get_json()


def _is_live(app, token):
    """What any service instance does with the token (a separate app, same Redis)."""
    oms = app.extensions["oms"]
    try:
        claims = decode_token(token, secret=oms.settings.jwt.secret.get_secret_value(),
                              issuer="oms")
        oms.revocations.check(claims)
    except TokenInvalid:
        return False
    return True


@pytest.fixture
def other_instance(config):
    """A second instance of a service: shares Redis, not memory."""
    other = create_app(config)
    yield other
    other.extensions["oms_db"].engine.dispose()


def test_create_prints_credentials_as_json(app, client, signed):
    created = json.loads(_run(app, "create", "--tenant", "acme", "--json"))
    assert set(created) == {"app_id", "app_secret", "tenant", "scope"}
    assert created["tenant"] == "acme" and len(created["app_secret"]) == 32
    assert created["scope"] == "tenant"  # unless --operator
    row = SimpleNamespace(app_id=created["app_id"], secret=created["app_secret"])
    assert _token(client, signed(row))["code"] == 0


def test_list_never_shows_secrets(app, make_app_row):
    row = make_app_row(tenant="listed")
    text = _run(app, "list") + _run(app, "list", "--json")
    assert row.app_id in text and "listed" in text
    assert row.secret not in text


def test_disable_revokes_live_tokens_on_every_instance(app, client, make_app_row, signed,
                                                       other_instance):
    row = make_app_row()
    token = _token(client, signed(row))["data"]["token"]
    assert _is_live(other_instance, token)
    _run(app, "disable", row.app_id)
    assert not _is_live(other_instance, token)
    assert _token(client, signed(row))["code"] == 40110
    _run(app, "enable", row.app_id)
    fresh = _token(client, signed(row, str(int(time.time()) - 1)))
    assert fresh["code"] == 0 and _is_live(other_instance, fresh["data"]["token"])
    assert not _is_live(other_instance, token)


def test_rotate_secret_revokes_and_replaces_the_secret(app, client, make_app_row, signed):
    row = make_app_row()
    token = _token(client, signed(row))["data"]["token"]
    rotated = json.loads(_run(app, "rotate-secret", row.app_id, "--json"))
    assert rotated["app_secret"] != row.secret
    assert not _is_live(app, token)
    assert _token(client, signed(row, str(int(time.time()) - 2)))["code"] == 40111
    new = SimpleNamespace(app_id=row.app_id, secret=rotated["app_secret"])
    assert _token(client, signed(new))["code"] == 0


def test_unknown_app_is_reported(app):
    result = app.test_cli_runner().invoke(args=["apps", "disable", "nobody"])
    assert result.exit_code != 0


def test_bootstrap_creates_the_default_app_once(app):
    first = json.loads(_run(app, "bootstrap", "--json"))
    second = json.loads(_run(app, "bootstrap", "--json"))
    assert first["created"] is True and second["created"] is False
    assert first["app_id"] == second["app_id"] and first["tenant"] == "default"
    assert first["scope"] == second["scope"] == "operator"  # the platform's operator app


def test_an_apps_scope_is_written_into_its_tokens(app, client, signed):
    """A tenant app (the default of ``create``) and an operator app (``--operator``); the
    list shows each one's scope, and each token carries it."""
    scopes = {}
    for flag in ([], ["--operator"]):
        created = json.loads(_run(app, "create", "--tenant", "acme", *flag, "--json"))
        row = SimpleNamespace(app_id=created["app_id"], secret=created["app_secret"])
        token = _token(client, signed(row))["data"]["token"]
        oms = app.extensions["oms"]
        claims = decode_token(token, secret=oms.settings.jwt.secret.get_secret_value(),
                              issuer="oms")
        assert claims.scope == created["scope"]
        scopes[created["app_id"]] = created["scope"]
    assert sorted(scopes.values()) == ["operator", "tenant"]
    listed = {row["app_id"]: row["scope"] for row in json.loads(_run(app, "list", "--json"))}
    assert {k: listed[k] for k in scopes} == scopes
    lines = _run(app, "list").splitlines()
    for app_id, scope in scopes.items():
        [line] = [line for line in lines if line.startswith(app_id)]
        assert line.split("\t")[2] == scope


def test_a_revocation_whose_commit_failed_does_not_lock_the_app_out(app, client, make_app_row,
                                                                    signed):
    """Redis got generation 2 but the database kept 1: new tokens must still work."""
    row = make_app_row()
    oms = app.extensions["oms"]
    store = oms.revocations
    store.publish_generation(row.app_id, 2)
    token = _token(client, signed(row))["data"]["token"]
    assert _is_live(app, token)
    _run(app, "disable", row.app_id)
    assert not _is_live(app, token)
    assert store.generation(row.app_id) == 3
