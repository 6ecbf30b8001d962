"""Producing devices: submit a batch, confirm it into stock, remove it, download it.

Large batches are the point: devices are written with one Core ``executemany``
(no ORM unit of work per row), the batch is confirmed with one ``UPDATE``, and the
CSV is streamed in keyset chunks so memory stays flat however large the batch.
"""

from __future__ import annotations

import csv
import io
import secrets
import uuid
from collections.abc import Callable, Iterator

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from device_service import batches, devices
from device_service.lifecycle import announce_removed
from device_service.models import Batch, Device
from device_service.schemas import BatchSubmit
from oms_shared import OMSState
from oms_shared.catalog import ProductCatalog, ProductGuard, ProductSnapshot, fetch_product
from oms_shared.database import on_finish
from oms_shared.errors import Conflict, InvalidState
from oms_shared.times import utcnow

CSV_HEADER = ("device_id", "product_key", "device_name", "device_secret", "batch_no")
CSV_CHUNK = 5000
NAME_BYTES = 8  # device_name: 16 lowercase hex characters


def _product(oms: OMSState, tenant: str, product_id: int) -> ProductSnapshot:
    product = fetch_product(catalog=ProductCatalog(oms.redis, oms.settings.redis.prefix),
                            client=oms.client, product_id=product_id, tenant=tenant)
    if not product.enabled:
        raise InvalidState(f"product {product_id} is disabled; enable it to produce devices")
    return product


def _device_rows(batch: Batch, amount: int) -> list[dict]:
    now = utcnow()
    names: set[str] = set()
    while len(names) < amount:
        names.add(secrets.token_hex(NAME_BYTES))
    return [
        {"id": str(uuid.uuid4()), "tenant": batch.tenant, "product_id": batch.product_id,
         "product_key": batch.product_key, "batch_id": batch.id, "batch_no": batch.batch_no,
         "seq": seq, "name": name, "device_name": name,
         "device_secret": secrets.token_hex(16), "status": "produced", "remark": "",
         "created_at": now, "updated_at": now}
        for seq, name in enumerate(names, start=1)
    ]


def submit(*, session: Session, oms: OMSState, tenant: str, data: BatchSubmit) -> Batch:
    """Create the batch and all its devices in the request's one transaction; the
    product cannot be removed until that transaction ends (``ProductGuard``)."""
    product = _product(oms, tenant, data.product_id)
    guard = ProductGuard(oms.redis, oms.settings.redis.prefix)
    guard.start_producing(product.id)
    on_finish(session, lambda: guard.stop_producing(product.id))
    if batches.get_by_batch_no(session=session, tenant=tenant, batch_no=data.batch_no):
        raise Conflict("batch_no", f"batch {data.batch_no!r} already exists")
    batch = Batch(tenant=tenant, name=data.name, batch_no=data.batch_no,
                  product_id=product.id, product_key=product.product_key,
                  amount=data.amount, remark=data.remark, status="pending")
    try:
        with session.begin_nested():
            batches.create(session=session, batch=batch)
    except IntegrityError:  # a concurrent submit of the same batch_no won
        raise Conflict("batch_no", f"batch {data.batch_no!r} already exists") from None
    for attempt in (1, 2):
        try:
            with session.begin_nested():
                session.execute(insert(Device.__table__), _device_rows(batch, data.amount))
            break
        except IntegrityError:  # a device_name already used in this product: draw again
            if attempt == 2:
                raise
    return batch


def confirm(*, session: Session, tenant: str, batch_id: str) -> Batch:
    """Put a pending batch into stock: its devices become ``inactive``."""
    batch = batches.get_for_update(session=session, tenant=tenant, batch_id=batch_id)
    if batch.status != "pending":
        raise InvalidState(f"batch {batch.id} is already confirmed")
    now = utcnow()
    batch.status, batch.confirmed_at = "confirmed", now
    session.flush()
    session.execute(update(Device.__table__)
                    .where(Device.batch_id == batch.id, Device.status == "produced")
                    .values(status="inactive", updated_at=now))
    return batch


def remove(*, session: Session, oms: OMSState, tenant: str, batch_id: str) -> None:
    """Remove a pending batch and its devices; a confirmed batch stays (40901)."""
    batch = batches.get_for_update(session=session, tenant=tenant, batch_id=batch_id)
    if batch.status != "pending":
        raise InvalidState(f"batch {batch.id} is confirmed; its devices are in stock")
    device_ids = devices.ids_in_batch(session=session, batch_id=batch.id)
    devices.delete_batch_devices(session=session, batch_id=batch.id)
    batches.delete(session=session, batch=batch)
    announce_removed(session=session, oms=oms, tenant=tenant, product_id=batch.product_id,
                     device_ids=device_ids)


def csv_lines(*, sessionmaker: Callable[[], Session], batch_id: int) -> Iterator[str]:
    """The batch's credentials as CSV, chunk by chunk (keyset on ``seq``).

    It runs while the response streams, after the request's own session is gone, so
    it holds a session of its own, closed when the stream ends or the client leaves.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    yield buffer.getvalue()
    after = 0
    with sessionmaker() as session:
        while True:
            chunk = devices.get_batch_chunk(session=session, batch_id=batch_id,
                                            after_seq=after, size=CSV_CHUNK)
            session.rollback()  # hold no transaction (nor SQLite's lock) while streaming
            if not chunk:
                return
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(row[:5] for row in chunk)
            yield buffer.getvalue()
            after = chunk[-1][5]
