"""Device secrets at rest (docs/security.md, "Secrets"): the table holds them sealed
(AES-GCM, key id in every value), the broker's credential cache in Redis too, the
migration seals what was stored in the clear, and ``secrets-rotate`` moves every value to
the current key. Plain SQL reads the rows: the secrets the API hands out are not there."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from sqlalchemy import text

from device_service import channel, flows
from device_service.app import create_app
from device_service.db import db
from device_service.schemas import BatchSubmit

KEY_1 = base64.b64encode(b"1" * 32).decode()
KEY_2 = base64.b64encode(b"2" * 32).decode()


def _submit(session, oms, amount=20, batch_no="S1"):
    return flows.submit_batch(session=session, oms=oms, tenant="t1", data=BatchSubmit(
        name="n", amount=amount, product_id=10000, batch_no=batch_no))


def _credentials(session, batch_id) -> dict[str, str]:
    """device_name -> secret, as the CSV hands them out."""
    download = flows.start_download(session=session, tenant="t1", batch_id=str(batch_id))
    lines = b"".join(flows.csv_lines(sessionmaker=db.sessionmaker, download=download))
    assert len(lines) == download.size
    rows = [line.split(",") for line in lines.decode().splitlines()[1:]]
    return {row[2]: row[3] for row in rows}


def _raw(session) -> dict[str, str]:
    return dict(session.execute(text("SELECT device_name, device_secret FROM devices")).all())


def test_the_devices_table_holds_no_secret_in_the_clear(session, oms, product):
    product()
    batch = _submit(session, oms)
    session.commit()
    handed_out = _credentials(session, batch.id)
    assert len(handed_out) == 20
    assert all(len(secret) == 32 for secret in handed_out.values())
    raw = _raw(session)
    dump = " ".join(raw.values())
    assert not any(secret in dump for secret in handed_out.values())
    assert all(value.startswith(f"v1:{oms.secrets.current}:") for value in raw.values())
    assert len(set(raw.values())) == 20  # a nonce of its own each


def test_the_broker_cache_holds_no_secret_in_the_clear(session, oms, product, redis_client):
    """The cache keeps the sealed form; the plain password and the Aliyun signature (an
    HMAC keyed by the secret itself) are still checked from it."""
    snapshot = product()
    batch = _submit(session, oms, amount=1)
    flows.confirm_batch(session=session, tenant="t1", batch_id=str(batch.id))
    session.commit()
    (name, secret), = _credentials(session, batch.id).items()
    pk = snapshot.product_key
    username, client_id = f"{name}&{pk}", f"{pk}.{name}"
    assert channel.authenticate(session, oms, username=username, password=secret,
                                client_id=client_id)
    cached = redis_client.get(oms.keys.channel_device(pk, name))
    assert cached is not None and secret not in cached and '"sealed": "v1:' in cached
    # both checks answered from the cache now
    assert channel.authenticate(session, oms, username=username, password=secret,
                                client_id=client_id)
    assert not channel.authenticate(session, oms, username=username, password="0" * 32,
                                    client_id=client_id)
    ts = str(int(time.time() * 1000))
    content = f"clientId{client_id}deviceName{name}productKey{pk}timestamp{ts}"
    signature = hmac.new(secret.encode(), content.encode(), hashlib.sha256).hexdigest()
    assert channel.authenticate(
        session, oms, username=username, password=signature,
        client_id=f"{client_id}|securemode=2,signmethod=hmacsha256,timestamp={ts}|")


def test_a_cache_entry_of_older_code_or_a_dropped_key_is_read_again_from_the_table(
        session, oms, product, redis_client):
    snapshot = product()
    batch = _submit(session, oms, amount=1)
    flows.confirm_batch(session=session, tenant="t1", batch_id=str(batch.id))
    session.commit()
    (name, secret), = _credentials(session, batch.id).items()
    key = oms.keys.channel_device(snapshot.product_key, name)
    redis_client.set(key, '{"id": "x", "tenant": "t1", "product_id": 10000, "product_key": '
                          f'"{snapshot.product_key}", "device_name": "{name}", '
                          '"secret": "left-by-older-code"}')
    assert channel.authenticate(session, oms, username=f"{name}&{snapshot.product_key}",
                                password=secret, client_id=f"{snapshot.product_key}.{name}")
    assert "left-by-older-code" not in redis_client.get(key)
    from oms_shared import Keyring  # an entry sealed under a key since dropped: a miss too

    stale = Keyring({"gone": b"9" * 32}, "gone").seal(secret)
    redis_client.set(key, redis_client.get(key).replace(
        redis_client.get(key).split('"sealed": "')[1].split('"')[0], stale))
    assert channel.authenticate(session, oms, username=f"{name}&{snapshot.product_key}",
                                password=secret, client_id=f"{snapshot.product_key}.{name}")
    assert "v1:gone:" not in redis_client.get(key)


def test_rotation_moves_every_secret_to_the_current_key(base_config, database_url, tmp_path):
    """Sealed under k1; the keyring gains k2 as current; ``secrets-rotate`` (chunk by
    chunk) reseals every row, after which k1 can leave the keyring. Plaintext rows (left
    by older code) are sealed on the way."""
    config = {**base_config, "device": {"database_url": database_url}}
    first = create_app({**config, "secrets": {"keys": {"k1": KEY_1}, "current": "k1"}})
    first.extensions["oms_db"].create_all()
    apps = [first]
    try:
        with first.app_context():
            with db.scoped() as session:
                from device_service.models import Batch, Device

                session.execute(text("DELETE FROM devices"))
                session.execute(text("DELETE FROM batches"))
                batch = Batch(tenant="t1", name="n", batch_no="R", product_id=1,
                              product_key="pk", amount=7, status="confirmed")
                session.add(batch)
                session.flush()
                session.add_all(Device(id=f"d{i}", tenant="t1", product_id=1, product_key="pk",
                                       batch_id=batch.id, batch_no="R", seq=i, name=f"n{i}",
                                       device_name=f"n{i}", device_secret=f"{i:032x}")
                                for i in range(7))
            with db.engine.begin() as conn:  # a row older code wrote in the clear
                conn.execute(text("UPDATE devices SET device_secret = :s WHERE id = 'd6'"),
                             {"s": "6" * 32})
        second = create_app({**config, "secrets": {"keys": {"k1": KEY_1, "k2": KEY_2},
                                                   "current": "k2"}})
        apps.append(second)
        result = second.test_cli_runner().invoke(args=["secrets-rotate", "--chunk", "3"])
        assert result.exit_code == 0, result.output
        assert "6 resealed, 1 plaintext sealed, 0 already current" in result.output
        with second.app_context(), db.engine.connect() as conn:
            raw = conn.execute(text("SELECT device_secret FROM devices")).scalars().all()
        assert len(raw) == 7 and all(value.startswith("v1:k2:") for value in raw)
        again = second.test_cli_runner().invoke(args=["secrets-rotate"])
        assert "0 resealed, 0 plaintext sealed, 7 already current" in again.output
        only_new = create_app({**config, "secrets": {"keys": {"k2": KEY_2}}})
        apps.append(only_new)
        with only_new.app_context(), db.scoped() as session:
            from device_service.models import Device

            opened = {d.id: d.device_secret for d in session.query(Device)}
        assert opened == {f"d{i}": (f"{i:032x}" if i < 6 else "6" * 32) for i in range(7)}
    finally:
        with first.app_context(), db.engine.begin() as conn:
            conn.execute(text("DELETE FROM devices"))
            conn.execute(text("DELETE FROM batches"))
        for app in apps:
            app.extensions["oms_db"].engine.dispose()


def test_a_value_sealed_under_a_key_the_keyring_lacks_is_refused(session, oms, product):
    from oms_shared import Keyring, KeyringError

    product()
    _submit(session, oms, amount=1)
    session.commit()
    stranger = Keyring({"other": b"3" * 32}, "other")
    raw = next(iter(_raw(session).values()))
    with pytest.raises(KeyringError, match="does not hold"):
        stranger.open(raw)
