"""The revisions that seal secrets at rest seal what an older version stored in the
clear, on both databases, and their downgrades open it again; plain SQL reads the rows.
The app-scope revision makes the existing default app the operator app."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text

from oms_shared._migrations import _config


def _at(app, service: str, revision: str) -> None:
    state = app.extensions["oms_db"]
    with state.engine.begin() as conn:
        command.upgrade(_config(conn, state.metadata, service, f"{service}_service"), revision)


def _down(app, service: str, revision: str) -> None:
    state = app.extensions["oms_db"]
    with state.engine.begin() as conn:
        command.downgrade(_config(conn, state.metadata, service, f"{service}_service"),
                          revision)


def test_device_secrets_stored_in_the_clear_are_sealed_by_the_migration(
        base_config, empty_database_url):
    from device_service.app import create_app
    from device_service.db import db
    from device_service.models import Device

    app = create_app({**base_config, "device": {"database_url": empty_database_url}})
    state = app.extensions["oms_db"]
    _at(app, "device", "18fda8e63dfd")  # the revision before
    secrets = {f"d{i}": f"{i:032x}" for i in range(12)}
    with state.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO batches (tenant, name, batch_no, product_id, product_key, amount, remark,"
            " status, created_at, updated_at) VALUES ('t', 'n', 'A', 1, 'k', 12, '', 'confirmed',"
            " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        batch_id = conn.execute(text("SELECT id FROM batches")).scalar()
        for seq, (ident, secret) in enumerate(secrets.items(), start=1):
            conn.execute(text(
                "INSERT INTO devices (id, tenant, product_id, product_key, batch_id, batch_no,"
                " seq, name, device_name, device_secret, status, remark, created_at, updated_at)"
                " VALUES (:id, 't', 1, 'k', :b, 'A', :seq, :id, :id, :s, 'inactive', '',"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                {"id": ident, "b": batch_id, "seq": seq, "s": secret})
    state.migrate()
    with state.engine.connect() as conn:
        raw = dict(conn.execute(text("SELECT id, device_secret FROM devices")).all())
    assert set(raw) == set(secrets)
    dump = " ".join(raw.values())
    assert not any(secret in dump for secret in secrets.values())
    assert all(value.startswith("v1:jwt:") for value in raw.values())  # the test keyring
    with app.app_context(), db.scoped() as session:
        assert {d.id: d.device_secret for d in session.query(Device)} == secrets
    _down(app, "device", "18fda8e63dfd")
    with state.engine.connect() as conn:
        assert dict(conn.execute(text("SELECT id, device_secret FROM devices")).all()) == secrets
    state.engine.dispose()


def test_product_secrets_stored_in_the_clear_are_sealed_and_ids_still_go_on(
        base_config, empty_database_url):
    from product_service.app import create_app

    app = create_app({**base_config, "product": {"database_url": empty_database_url}})
    state = app.extensions["oms_db"]
    _at(app, "product", "56a63e207b93")
    insert = text(
        "INSERT INTO products (tenant, name, code, product_key, product_secret, status,"
        " thing_model, revision, created_at, updated_at) VALUES ('t', 'n', :code, :key, :s,"
        " 'enable', '{}', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id")
    with state.engine.begin() as conn:
        first = conn.execute(insert, {"code": "a", "key": "ka", "s": "A5244111BCDEFGDA"}).scalar()
        second = conn.execute(insert, {"code": "b", "key": "kb", "s": "x" * 128}).scalar()
        conn.execute(text("DELETE FROM products WHERE id = :id"), {"id": second})
    assert first == 10000
    state.migrate()
    with state.engine.begin() as conn:
        raw = conn.execute(text("SELECT product_secret FROM products")).scalar()
        assert raw.startswith("v1:jwt:") and "A5244111BCDEFGDA" not in raw
        third = conn.execute(insert, {"code": "c", "key": "kc", "s": "s"}).scalar()
    assert third > second  # never an id handed out before (SQLite's sequence kept)
    _down(app, "product", "56a63e207b93")
    with state.engine.connect() as conn:
        secrets = set(conn.execute(text("SELECT product_secret FROM products")).scalars())
    assert secrets == {"A5244111BCDEFGDA", "s"}
    state.engine.dispose()


@pytest.mark.parametrize("is_default", [True, False])
def test_the_default_app_becomes_the_operator_app(base_config, empty_database_url, is_default):
    from auth_service.app import create_app

    app = create_app({**base_config, "auth": {"database_url": empty_database_url}})
    state = app.extensions["oms_db"]
    _at(app, "auth", "22536d61c090")
    with state.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO apps (app_id, secret, tenant, name, enabled, is_default,"
            " token_generation, created_at, updated_at) VALUES ('oms1', 's', 'default', 'd',"
            " :yes, :default, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
            {"yes": True, "default": is_default})
    state.migrate()
    with state.engine.connect() as conn:
        scope = conn.execute(text("SELECT scope FROM apps")).scalar()
    assert scope == ("operator" if is_default else "tenant")
    state.engine.dispose()
