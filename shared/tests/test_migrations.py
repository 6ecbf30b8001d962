"""Each service's migrations build exactly what its models describe, on both databases."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

SERVICES = ["auth", "product", "device"]


@pytest.fixture(params=SERVICES)
def migrated(request, base_config, empty_database_url):
    """A schema for the service, built by its migrations only, in an empty database."""
    service = request.param
    module = importlib.import_module(f"{service}_service.app")
    app = module.create_app({**base_config, service: {"database_url": empty_database_url}})
    state = app.extensions["oms_db"]
    state.migrate()
    yield service, state
    state.engine.dispose()


def test_migrations_match_the_models(migrated):
    service, state = migrated
    with state.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True, "version_table": f"alembic_version_{service}"})
        assert compare_metadata(context, state.metadata) == []
        assert f"alembic_version_{service}" in inspect(conn).get_table_names()


def test_migrating_twice_changes_nothing(migrated):
    _, state = migrated
    state.migrate()


@pytest.mark.parametrize("migrated", ["product"], indirect=True)
def test_product_ids_start_at_10000_after_migrations(migrated):
    _, state = migrated
    with state.engine.begin() as conn:
        new_id = conn.execute(text(
            "INSERT INTO products (tenant, name, code, product_key, product_secret, status,"
            " thing_model, revision, created_at, updated_at) VALUES ('t', 'n', 'c', 'k', 's',"
            " 'enable', '{}', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id")).scalar()
    assert new_id == 10000
