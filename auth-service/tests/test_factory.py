import pytest

from auth_service.app import create_app
from oms_shared import SettingsError


def test_config_reaches_the_app(config):
    app = create_app({**config, "auth": {**config["auth"], "token_ttl": 600}})
    assert app.extensions["oms"].settings.auth.token_ttl == 600
    assert app.extensions["oms"].service == "auth"
    app.extensions["oms_db"].engine.dispose()


def test_bad_config_is_refused(config):
    with pytest.raises(SettingsError, match="token_ttl"):
        create_app({**config, "auth": {**config["auth"], "token_ttl": "forever"}})


def test_token_lifetime_is_configurable(config, signed):
    from auth_service import apps
    from auth_service.db import db

    app = create_app({**config, "auth": {**config["auth"], "token_ttl": 600}})
    app.extensions["oms_db"].create_all()
    from oms_shared.testing import rolled_back

    with rolled_back(app):
        with app.app_context(), db.scoped() as session:
            row = apps.create(session=session, tenant="t")
        data = app.test_client().post("/oms/auth/token", json=signed(row)).get_json()["data"]
    assert 590 <= data["expires_in"] <= 600
    app.extensions["oms_db"].engine.dispose()
