"""Producing, confirming and removing batches on PostgreSQL and SQLite."""

from __future__ import annotations

import csv
import io
import re

import pytest

from device_service import devices, flows
from device_service.schemas import BatchSubmit, DeviceList
from oms_shared import Conflict, Consumer, DevicesRemoved, InvalidState, NotFound


def _submit(session, oms, tenant="t1", batch_no="B1", amount=5, product_id=10000):
    return flows.submit_batch(session=session, oms=oms, tenant=tenant, data=BatchSubmit(
        name="第 2 次生产", amount=amount, product_id=product_id, batch_no=batch_no,
        remark="对接坪山某公司 01"))


def _csv(session, session_factory, batch_id, tenant="t1"):
    download = flows.start_download(session=session, tenant=tenant, batch_id=str(batch_id))
    data = b"".join(flows.csv_lines(sessionmaker=session_factory, download=download))
    assert len(data) == download.size
    return data.decode()


def test_submit_creates_the_batch_and_its_devices(session, oms, product):
    product()
    batch = _submit(session, oms, amount=50)
    rows, total = devices.get_batch_page(session=session, batch_id=batch.id,
                                         query=DeviceList(page_size=500))
    assert total == 50
    assert {d.status for d in rows} == {"produced"}
    assert len({d.device_name for d in rows}) == 50
    assert all(re.fullmatch(r"[0-9a-f]{32}", d.device_secret) for d in rows)
    assert all(re.fullmatch(r"[0-9a-f-]{36}", d.id) for d in rows)
    assert [d.seq for d in rows] == list(range(1, 51))
    assert batch.status == "pending" and batch.product_key == "pk10000"


def test_submit_refuses_a_duplicate_batch_no(session, oms, product):
    product()
    _submit(session, oms)
    with pytest.raises(Conflict) as caught:
        _submit(session, oms)
    assert caught.value.data == {"field": "batch_no"}


def test_submit_checks_the_product(session, oms, product):
    product(10001, status="disable")
    product(10002, tenant="t2")
    with pytest.raises(InvalidState):
        _submit(session, oms, product_id=10001)
    with pytest.raises(NotFound):
        _submit(session, oms, product_id=10002)


def test_confirm_puts_devices_in_stock_once(session, oms, product, ctx):
    product()
    pending = _submit(session, oms, batch_no="P", amount=2)
    confirmed = _submit(session, oms, batch_no="C", amount=3)
    flows.confirm_batch(session=session, tenant="t1", batch_id=str(confirmed.id))
    rows, total = devices.get_all(session=session, tenant="t1", query=DeviceList())
    assert total == 3
    assert {d.batch_id for d in rows} == {confirmed.id}
    assert {d.status for d in rows} == {"inactive"}
    assert confirmed.confirmed_at is not None
    with pytest.raises(InvalidState):
        flows.confirm_batch(session=session, tenant="t1", batch_id=str(confirmed.id))
    with pytest.raises(NotFound):
        flows.confirm_batch(session=session, tenant="t2", batch_id=str(pending.id))


def test_remove_a_pending_batch_announces_its_devices(session, oms, product):
    product()
    batch = _submit(session, oms, amount=3)
    ids = set(devices.ids_in_batch(session=session, batch_id=batch.id))
    heard: list[DevicesRemoved] = []
    consumer = Consumer(oms.redis, oms.keys, DevicesRemoved, "bindings", heard.append)
    flows.remove_batch(session=session, oms=oms, tenant="t1", batch_id=str(batch.id))
    assert consumer.poll() == 0  # nothing before the commit
    session.commit()
    assert consumer.poll() == 1
    [event] = heard
    assert event.tenant == "t1" and event.product_id == 10000 and set(event.device_ids) == ids
    assert devices.ids_in_batch(session=session, batch_id=batch.id) == []


def test_a_confirmed_batch_cannot_be_removed(session, oms, product):
    product()
    batch = _submit(session, oms)
    flows.confirm_batch(session=session, tenant="t1", batch_id=str(batch.id))
    with pytest.raises(InvalidState):
        flows.remove_batch(session=session, oms=oms, tenant="t1", batch_id=str(batch.id))


def test_csv_has_a_header_and_every_device(session, oms, product, ctx):
    from device_service.db import db

    product()
    batch = _submit(session, oms, amount=12)
    session.commit()
    original = flows.CSV_CHUNK
    flows.CSV_CHUNK = 5  # several chunks
    try:
        text = _csv(session, db.sessionmaker, batch.id)
    finally:
        flows.CSV_CHUNK = original
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["device_id", "product_key", "device_name", "device_secret", "batch_no"]
    assert len(rows) == 13
    assert len({r[2] for r in rows[1:]}) == 12
    assert all(r[1] == "pk10000" and r[4] == "B1" for r in rows[1:])


def test_device_list_filters(session, oms, product):
    product()
    product(10001)
    first = _submit(session, oms, batch_no="A", amount=2)
    second = _submit(session, oms, batch_no="B", amount=2, product_id=10001)
    for batch in (first, second):
        flows.confirm_batch(session=session, tenant="t1", batch_id=str(batch.id))
    some = devices.get_all(session=session, tenant="t1", query=DeviceList())[0][0]
    flows.disable_device(session=session, oms=oms, tenant="t1", device_id=some.id)

    def total(**query):
        return devices.get_all(session=session, tenant="t1", query=DeviceList(**query))[1]

    assert total() == 4
    assert total(product_id=10001) == 2
    assert total(batch_no="A") == 2
    assert total(status="disabled") == 1
    assert total(device_name=some.device_name) == 1
    assert total(name=some.name[:6]) >= 1
    assert devices.get_all(session=session, tenant="t2", query=DeviceList())[1] == 0


def test_disable_enable_and_remove(session, oms, product):
    product()
    batch = _submit(session, oms, amount=1)
    [device] = devices.get_batch_page(session=session, batch_id=batch.id,
                                      query=DeviceList())[0]
    with pytest.raises(InvalidState):  # not in stock yet
        flows.disable_device(session=session, oms=oms, tenant="t1", device_id=device.id)
    with pytest.raises(InvalidState):
        flows.remove_device(session=session, oms=oms, tenant="t1", device_id=device.id)
    flows.confirm_batch(session=session, tenant="t1", batch_id=str(batch.id))
    session.refresh(device)
    disabled = flows.disable_device(session=session, oms=oms, tenant="t1", device_id=device.id)
    assert disabled.status == "disabled"
    enabled = flows.enable_device(session=session, oms=oms, tenant="t1", device_id=device.id)
    assert enabled.status == "inactive"
    with pytest.raises(NotFound):
        flows.remove_device(session=session, oms=oms, tenant="t2", device_id=device.id)
    flows.remove_device(session=session, oms=oms, tenant="t1", device_id=device.id)
    assert devices.get(session=session, tenant="t1", device_id=device.id) is None


def test_counts_by_product(session, oms, product):
    product()
    _submit(session, oms, amount=3)
    assert devices.count_by_product(session=session, tenant="t1",
                                    product_ids=[10000, 10001]) == {10000: 3, 10001: 0}
    assert devices.count_by_product(session=session, tenant="t2",
                                    product_ids=[10000]) == {10000: 0}


def test_a_submit_releases_its_guard_however_it_ends(session, oms, product, redis_client):
    product()
    key = oms.keys.producing(10000)
    _submit(session, oms, batch_no="G1")
    assert redis_client.get(key) == "1"  # held until the transaction ends
    session.commit()
    assert redis_client.get(key) is None  # released: the counter is gone at zero
    with pytest.raises(Conflict):
        _submit(session, oms, batch_no="G1")
    session.rollback()
    assert redis_client.get(key) is None


def test_batch_ids_are_never_reused(session, oms, product):
    product()
    first = _submit(session, oms, batch_no="R1")
    flows.remove_batch(session=session, oms=oms, tenant="t1", batch_id=str(first.id))
    second = _submit(session, oms, batch_no="R2")
    assert second.id > first.id


def _read(client, path, token):
    return client.post(path, headers={"Token": token}, json={})


def test_a_download_spanning_a_removal_and_another_tenants_submit_is_cut_short(
        app, product, monkeypatch):
    """The CSV announces its size; a batch removed mid-stream ends it short, and the rest
    of the stream never comes from anyone else's batch, whatever id it got."""
    from oms_shared.testing import token_for

    monkeypatch.setattr(flows, "CSV_CHUNK", 4)
    product()
    product(10001, tenant="t2")
    mine, theirs = token_for(app, app_id="a1", tenant="t1"), token_for(app, app_id="a2",
                                                                       tenant="t2")
    client = app.test_client()
    body = {"name": "n", "amount": 10, "product_id": 10000, "batch_no": "MINE"}
    batch = client.post("/oms/produce/submit", json=body,
                        headers={"Token": mine}).get_json()["data"]
    response = client.post(f"/oms/produce/download/{batch['id']}", json={},
                           headers={"Token": mine}, buffered=False)
    assert response.status_code == 200
    assert response.headers["X-Device-Count"] == "10"
    announced = int(response.headers["Content-Length"])
    stream = response.response
    received = next(stream) + next(stream)  # the header and the first 4 devices
    assert _read(client, f"/oms/produce/remove/{batch['id']}", mine).status_code == 200
    other = client.post("/oms/produce/submit", headers={"Token": theirs}, json={
        **body, "product_id": 10001, "batch_no": "THEIRS"}).get_json()["data"]
    assert other["id"] > batch["id"]  # never the removed batch's id
    rest: list[bytes] = []
    with pytest.raises(flows.DownloadInterrupted):
        rest.extend(stream)
    received += b"".join(rest)
    response.close()
    assert len(received) < announced
    their_csv = _read(client, f"/oms/produce/download/{other['id']}", theirs).get_data()
    their_secrets = {line.split(b",")[3] for line in their_csv.splitlines()[1:]}
    assert len(their_secrets) == 10
    assert not any(secret in received for secret in their_secrets)


def test_a_whole_download_matches_its_announced_size(app, product):
    from oms_shared.testing import token_for

    product()
    token = token_for(app, tenant="t1")
    client = app.test_client()
    batch = client.post("/oms/produce/submit", headers={"Token": token}, json={
        "name": "n", "amount": 7, "product_id": 10000, "batch_no": "W"}).get_json()["data"]
    response = _read(client, f"/oms/produce/download/{batch['id']}", token)
    assert int(response.headers["Content-Length"]) == len(response.get_data())
    assert response.headers["X-Device-Count"] == "7"
    assert len(response.get_data().splitlines()) == 8


def test_a_removal_that_completes_before_the_guard_is_raised_is_seen(session, oms, product,
                                                                     monkeypatch):
    """Forced interleaving: the whole removal (flag, count, delete, tombstone, flag
    released) runs just before the submit raises its flag. The submit must then find
    the product gone rather than produce devices of a deleted product."""
    from oms_shared import ProductGuard

    product()
    real_start = ProductGuard.start_producing

    def removal_first(self, product_id):
        self.start_removing(product_id)
        oms.catalog.forget(product_id)
        self.stop_removing(product_id)
        return real_start(self, product_id)

    monkeypatch.setattr(ProductGuard, "start_producing", removal_first)
    with pytest.raises(NotFound):
        _submit(session, oms, batch_no="AFTER-REMOVAL")
