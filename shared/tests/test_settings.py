from __future__ import annotations

import pytest

from oms_shared._settings import SettingsError, load_settings, redact_url

SECRET = "s" * 40


def test_defaults_then_file_then_environment(tmp_path):
    config = tmp_path / "oms.toml"
    config.write_text('bind_address = "0.0.0.0:1"\n[auth]\ntoken_ttl = 600\n'
                      f'[jwt]\nsecret = "{SECRET}"\n')
    settings = load_settings(environ={"OMS_CONFIG": str(config), "OMS_AUTH__TOKEN_TTL": "900"})
    assert settings.bind_address == "0.0.0.0:1"
    assert settings.auth.token_ttl == 900
    assert settings.auth.timestamp_window == 300


def test_overrides_win(tmp_path):
    settings = load_settings({"auth": {"token_ttl": 120}},
                             environ={"OMS_JWT__SECRET": SECRET, "OMS_AUTH__TOKEN_TTL": "900"})
    assert settings.auth.token_ttl == 120


def test_a_missing_or_short_secret_is_refused():
    with pytest.raises(SettingsError, match=r"jwt\.secret"):
        load_settings(environ={})
    with pytest.raises(SettingsError, match=r"jwt\.secret"):
        load_settings(environ={"OMS_JWT__SECRET": "short"})


def test_bad_values_name_the_key():
    with pytest.raises(SettingsError, match=r"auth\.token_ttl"):
        load_settings(environ={"OMS_JWT__SECRET": SECRET, "OMS_AUTH__TOKEN_TTL": "soon"})
    with pytest.raises(SettingsError, match="colour"):
        load_settings(environ={"OMS_JWT__SECRET": SECRET, "OMS_COLOUR": "red"})


def test_missing_config_file_is_reported(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(environ={"OMS_CONFIG": str(tmp_path / "nope.toml")})


def test_secrets_do_not_show_in_repr():
    settings = load_settings({"redis": {"url": "redis://:hunter2@db:6379/0"}},
                             environ={"OMS_JWT__SECRET": SECRET})
    shown = repr(settings) + str(settings.model_dump())
    assert SECRET not in shown and "hunter2" not in shown


def test_redact_url():
    assert redact_url("postgresql://oms:pw@db:5432/oms") == "postgresql://oms:***@db:5432/oms"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_embedded_database_defaults_to_sqlite_in_the_data_dir(tmp_path):
    settings = load_settings({"data_dir": str(tmp_path)}, environ={"OMS_JWT__SECRET": SECRET})
    assert settings.database_url("product") == f"sqlite:///{tmp_path / 'product.db'}"
