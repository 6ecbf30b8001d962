"""Each service's migrations build exactly what its models describe, on both databases."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from oms_shared import SERVICES as TABLE
from oms_shared._migrations import partitions_left_out

SERVICES = [spec.name for spec in TABLE if spec.database]


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
            "compare_type": True, "version_table": f"alembic_version_{service}",
            "include_name": partitions_left_out(conn)})
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


@pytest.mark.parametrize("migrated", ["device"], indirect=True)
def test_batch_ids_are_never_reused_after_migrations(migrated):
    _, state = migrated
    insert = text("INSERT INTO batches (tenant, name, batch_no, product_id, product_key, amount,"
                  " remark, status, created_at, updated_at) VALUES ('t', 'n', :no, 1, 'k', 1,"
                  " '', 'pending', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id")
    with state.engine.begin() as conn:
        first = conn.execute(insert, {"no": "A"}).scalar()
        conn.execute(text("DELETE FROM batches WHERE id = :id"), {"id": first})
        second = conn.execute(insert, {"no": "B"}).scalar()
    assert second > first


def test_a_sqlite_table_rebuild_keeps_the_children(base_config, tmp_path):
    """The batch-ids revision rebuilds ``batches``; devices of existing batches stay."""
    from device_service.app import create_app

    url = f"sqlite:///{tmp_path / 'old.db'}"
    app = create_app({**base_config, "device": {"database_url": url}})
    state = app.extensions["oms_db"]
    from alembic import command

    from oms_shared._migrations import _config

    with state.engine.begin() as conn:
        command.upgrade(_config(conn, state.metadata, "device", "device_service"),
                        "58faee284715")
        conn.execute(text(
            "INSERT INTO batches (id, tenant, name, batch_no, product_id, product_key, amount,"
            " remark, status, created_at, updated_at) VALUES (7, 't', 'n', 'A', 1, 'k', 1, '',"
            " 'pending', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        conn.execute(text(
            "INSERT INTO devices (id, tenant, product_id, product_key, batch_id, batch_no, seq,"
            " name, device_name, device_secret, status, remark, created_at, updated_at) VALUES"
            " ('d1', 't', 1, 'k', 7, 'A', 1, 'n', 'dn', 's', 'produced', '',"
            " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    state.migrate()
    with state.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM devices")).scalar() == 1
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'batches'")).scalar()
    assert "AUTOINCREMENT" in ddl
    state.engine.dispose()
