"""Secrets at rest: the keyring, the encrypted column type on both databases, rotation,
and the settings that hold the keys (required in production, never shown)."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import Integer, MetaData, String, insert, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from oms_shared import Base, EncryptedString, Keyring, KeyringError, SettingsError, load_settings
from oms_shared._database import make_engine
from oms_shared._secrets import attach, keyring_for, rotate, stored_length

JWT = "s" * 40
K1, K2 = b"\x01" * 32, b"\x02" * 32


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


class _Base(Base):
    __abstract__ = True
    metadata = MetaData()


class Vault(_Base):
    __tablename__ = "secret_vault"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(16))
    secret: Mapped[str | None] = mapped_column(EncryptedString(128), nullable=True)


# ---- the keyring -----------------------------------------------------------------------------


def test_a_sealed_value_opens_to_what_was_sealed_and_shows_nothing_of_it():
    ring = Keyring({"k1": K1}, "k1")
    sealed = ring.seal("f8d70127a0934798f9be1d72b883d840")
    assert sealed.startswith("v1:k1:") and "f8d70127" not in sealed
    assert ring.open(sealed) == "f8d70127a0934798f9be1d72b883d840"
    assert ring.seal("same") != ring.seal("same")  # a nonce of its own each
    assert len(ring.seal("x" * 128)) <= stored_length(128)


def test_a_tampered_value_or_a_moved_header_does_not_open():
    ring = Keyring({"k1": K1, "k2": K2}, "k1")
    sealed = ring.seal("secret-value")
    body = bytearray(base64.b64decode(sealed.split(":", 2)[2]))
    body[-1] ^= 1
    with pytest.raises(KeyringError, match="does not open"):
        ring.open("v1:k1:" + base64.b64encode(bytes(body)).decode())
    with pytest.raises(KeyringError, match="does not open"):  # the header is authenticated
        ring.open(sealed.replace("v1:k1:", "v1:k2:"))
    with pytest.raises(KeyringError, match="does not hold"):
        Keyring({"k2": K2}, "k2").open(sealed)


def test_a_value_without_the_prefix_is_a_legacy_plaintext():
    ring = Keyring({"k1": K1}, "k1")
    assert ring.open("A5244111BCDEFGDA") == "A5244111BCDEFGDA"
    assert not ring.is_current("A5244111BCDEFGDA")


# ---- the column type, both databases -----------------------------------------------------------


@pytest.fixture
def engine(empty_database_url):
    engine = make_engine(empty_database_url)
    attach(engine, Keyring({"k1": K1}, "k1"))
    _Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_the_orm_and_core_bulk_inserts_store_only_sealed_values(engine):
    with Session(engine) as session, session.begin():
        session.add(Vault(id=1, name="orm", secret="orm-secret-0123456789"))
        session.execute(insert(Vault.__table__), [
            {"id": i, "name": f"bulk{i}", "secret": f"bulk-secret-{i:04d}"} for i in range(2, 50)])
        session.add(Vault(id=50, name="none", secret=None))
    with engine.connect() as conn:
        raw = dict(conn.execute(text("SELECT name, secret FROM secret_vault")).all())
    assert raw.pop("none") is None
    assert all(value.startswith("v1:k1:") and "secret" not in value for value in raw.values())
    with Session(engine) as session:
        opened = dict(session.execute(select(Vault.name, Vault.secret)).all())
    assert opened["orm"] == "orm-secret-0123456789" and opened["bulk7"] == "bulk-secret-0007"


def test_an_engine_without_a_keyring_refuses_rather_than_store_in_the_clear(
        empty_database_url):
    engine = make_engine(empty_database_url)
    _Base.metadata.create_all(engine)
    try:
        with pytest.raises(Exception, match="no keyring"), Session(engine) as session, \
                session.begin():
            session.add(Vault(id=1, name="x", secret="clear"))
    finally:
        engine.dispose()


def test_rotation_reseals_old_keys_and_plaintext_and_skips_a_concurrent_change(engine):
    with Session(engine) as session, session.begin():
        session.add_all(Vault(id=i, name=f"n{i}", secret=f"value-{i}") for i in range(1, 8))
    with engine.begin() as conn:
        conn.execute(text("UPDATE secret_vault SET secret = 'legacy-clear' WHERE id = 7"))
    attach(engine, Keyring({"k1": K1, "k2": K2}, "k2"))
    with engine.connect() as conn:
        report = rotate(conn, Vault.__table__, Vault.__table__.c.secret, chunk=3)
    assert (report.resealed, report.plaintext, report.unchanged, report.skipped) == (6, 1, 0, 0)
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT secret FROM secret_vault ORDER BY id")).scalars().all()
        assert all(value.startswith("v1:k2:") for value in raw)
        again = rotate(conn, Vault.__table__, Vault.__table__.c.secret)
    assert (again.resealed, again.plaintext, again.unchanged) == (0, 0, 7)
    attach(engine, Keyring({"k2": K2}, "k2"))  # the old key may go now
    with Session(engine) as session:
        opened = session.execute(select(Vault.secret).order_by(Vault.id)).scalars().all()
    assert opened == [f"value-{i}" for i in range(1, 7)] + ["legacy-clear"]


# ---- settings ---------------------------------------------------------------------------------


def test_production_refuses_to_start_without_keys():
    with pytest.raises(SettingsError, match=r"secrets\.keys must be set in production"):
        load_settings({"jwt": {"secret": JWT}, "environment": "production"}, environ={})
    settings = load_settings({"jwt": {"secret": JWT}, "environment": "production",
                              "secrets": {"keys": {"k1": b64(K1)}}}, environ={})
    assert keyring_for(settings).current == "k1"


def test_without_keys_development_derives_one_from_the_jwt_secret():
    ring = keyring_for(load_settings({"jwt": {"secret": JWT}}, environ={}))
    assert ring.current == "jwt"
    again = keyring_for(load_settings({"jwt": {"secret": JWT}}, environ={}))
    assert again.open(ring.seal("x")) == "x"


def test_keys_come_from_the_environment_as_id_colon_key_pairs():
    settings = load_settings({"jwt": {"secret": JWT}}, environ={
        "OMS_SECRETS__KEYS": f"old:{b64(K1)},new:{b64(K2).rstrip('=')}",
        "OMS_SECRETS__CURRENT": "new"})
    ring = keyring_for(settings)
    assert ring.current == "new" and sorted(ring.key_ids) == ["new", "old"]
    listed = load_settings({"jwt": {"secret": JWT}}, environ={
        "OMS_SECRETS__KEYS": f"old:{b64(K1)},new:{b64(K2)}"})
    assert keyring_for(listed).current == "new"  # the last one listed


@pytest.mark.parametrize(("secrets", "message"), [
    ({"keys": {"k1": base64.b64encode(b"short").decode()}}, "must be 32 bytes"),
    ({"keys": {"k1": "not base64 !"}}, "is not base64"),
    ({"keys": {"bad id": b64(K1)}}, "key id"),
    ({"keys": {"k1": b64(K1)}, "current": "k9"}, "current key"),
    ({"current": "k1"}, "secrets.keys is empty"),
])
def test_a_bad_keyring_is_refused_without_showing_a_key(secrets, message):
    with pytest.raises(SettingsError, match=message) as caught:
        load_settings({"jwt": {"secret": JWT}, "secrets": secrets}, environ={})
    assert b64(K1) not in str(caught.value)


def test_rotation_never_overwrites_a_value_changed_after_it_was_read(engine, monkeypatch):
    """A request that sets a new secret between rotation's read and its write wins: each
    row is rewritten only if it still holds what was read (compare and set)."""
    with Session(engine) as session, session.begin():
        session.add_all(Vault(id=i, name=f"n{i}", secret=f"old-{i}") for i in range(1, 4))
    new_ring = Keyring({"k1": K1, "k2": K2}, "k2")
    attach(engine, new_ring)
    with engine.connect() as conn:
        real_seal = new_ring.seal

        def seal_while_a_request_writes(plaintext: str) -> str:
            if plaintext == "old-2":  # rows read; a request now changes row 2
                conn.execute(Vault.__table__.update().where(Vault.__table__.c.id == 2)
                             .values(secret="set-by-a-request"))
            return real_seal(plaintext)

        monkeypatch.setattr(new_ring, "seal", seal_while_a_request_writes)
        report = rotate(conn, Vault.__table__, Vault.__table__.c.secret)
    assert (report.resealed, report.skipped) == (3, 1)
    with Session(engine) as session:
        opened = session.execute(select(Vault.secret).order_by(Vault.id)).scalars().all()
    assert opened == ["old-1", "set-by-a-request", "old-3"]
