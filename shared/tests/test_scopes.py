"""App scopes: tokens carry the app's scope, and the token check (one place, the common
library's) refuses an endpoint that requires a scope to any other app with 403/40300.
Through the real gateway: tests/test_scopes_e2e.py."""

from __future__ import annotations

import time

import jwt
import pytest

from oms_shared import OPERATOR, TENANT, Api, TokenInvalid, decode_token, encode_token
from oms_shared.testing import token_for

SECRET = "test-secret-" + "x" * 40


def test_a_token_carries_its_apps_scope():
    for scope in (TENANT, OPERATOR):
        token, claims = encode_token(secret=SECRET, issuer="oms", app_id="a", tenant="t",
                                     generation=1, ttl=60, scope=scope)
        assert claims.scope == scope
        assert jwt.decode(token, SECRET, algorithms=["HS256"], issuer="oms")["scope"] == scope
        assert decode_token(token, secret=SECRET, issuer="oms").scope == scope


def test_a_token_without_a_scope_is_a_tenants():
    """Tokens issued before scopes existed keep working, as tenant apps' tokens."""
    now = int(time.time())
    token = jwt.encode({"iss": "oms", "sub": "a", "tenant": "t", "iat": now, "exp": now + 60,
                        "jti": "old", "gen": 1}, SECRET, algorithm="HS256")
    assert decode_token(token, secret=SECRET, issuer="oms").scope == TENANT


@pytest.mark.parametrize("scope", ["root", "", ["operator"], None, 1])
def test_a_token_with_any_other_scope_is_invalid(scope):
    now = int(time.time())
    token = jwt.encode({"iss": "oms", "sub": "a", "tenant": "t", "iat": now, "exp": now + 60,
                        "jti": f"odd-{scope!r}", "gen": 1, "scope": scope}, SECRET,
                       algorithm="HS256")
    with pytest.raises(TokenInvalid):
        decode_token(token, secret=SECRET, issuer="oms")
    with pytest.raises(ValueError, match="unknown scope"):
        encode_token(secret=SECRET, issuer="oms", app_id="a", tenant="t", generation=1, ttl=60,
                     scope="root")


@pytest.fixture
def scoped_app(make_app, base_config, tmp_path):
    """The test service plus an operator Api, and one operator endpoint on a tenant Api."""
    app = make_app({**base_config, "product": {"database_url": f"sqlite:///{tmp_path}/s.db"}})
    app.extensions["oms_db"].create_all()
    platform = Api("platform", __name__, scope=OPERATOR)

    @platform.post("/pms/test/info")
    def info(body: object) -> None:
        return None

    @platform.post("/pms/test/stats")
    def stats(body: object) -> None:
        return None

    mixed = Api("mixed", __name__)

    @mixed.post("/oms/mixed/open")
    def open_to_all(body: object) -> None:
        return None

    @mixed.post("/oms/mixed/ops", scope=OPERATOR)
    def operators_only(body: object) -> None:
        return None

    app.register_blueprint(platform.blueprint)
    app.register_blueprint(mixed.blueprint)
    yield app
    app.extensions["oms_db"].engine.dispose()


@pytest.mark.parametrize("path", ["/pms/test/info", "/pms/test/stats", "/oms/mixed/ops"])
def test_an_operator_endpoint_refuses_a_tenant_app_with_40300(scoped_app, path):
    client = scoped_app.test_client()
    tenant = token_for(scoped_app, app_id="tenant-app")
    refused = client.post(path, headers={"Token": tenant})
    assert (refused.status_code, refused.get_json()["code"]) == (403, 40300)
    operator = token_for(scoped_app, app_id="operator-app", scope=OPERATOR)
    assert client.post(path, headers={"Token": operator}).get_json()["code"] == 0


def test_endpoints_without_a_scope_take_either_app(scoped_app):
    client = scoped_app.test_client()
    for scope in (TENANT, OPERATOR):
        token = token_for(scoped_app, app_id=f"{scope}-app", scope=scope)
        assert client.post("/oms/mixed/open", headers={"Token": token}).status_code == 200
        assert client.post("/oms/note/list", headers={"Token": token}).status_code == 200


def test_the_token_is_checked_before_the_scope(scoped_app):
    client = scoped_app.test_client()
    assert client.post("/pms/test/info").get_json()["code"] == 40100
    operator = token_for(scoped_app, app_id="revoked-operator", scope=OPERATOR)
    scoped_app.extensions["oms"].revocations.publish_generation("revoked-operator", 2)
    assert client.post("/pms/test/info", headers={"Token": operator}).get_json()["code"] == 40101


def test_the_declaration_documents_the_scope_and_its_refusal(scoped_app):
    from oms_shared import Forbidden, RateLimited

    spec = scoped_app.view_functions["platform.info"].oms_spec
    assert spec.scope == OPERATOR and Forbidden in spec.errors and RateLimited in spec.errors
    assert scoped_app.view_functions["mixed.open_to_all"].oms_spec.scope is None
