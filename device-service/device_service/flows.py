"""The device service's workflows: producing batches (submit, confirm, remove,
download) and managing devices in stock (remove, disable, enable).

Large batches are the point: devices are written with one Core ``executemany``
(no ORM unit of work per row), the batch is confirmed with one ``UPDATE``, and the
CSV is streamed in keyset chunks so memory stays flat however large the batch.
Removed devices are announced with the ``DevicesRemoved`` event, after the commit,
for the services that hold something of a device (bindings, groups, credentials).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from device_service import batches, channel, devices
from device_service.models import Batch, Device
from device_service.schemas import BatchSubmit
from oms_shared import (
    Conflict,
    DevicesRemoved,
    InvalidState,
    OMSState,
    ProductSnapshot,
    fetch_product,
    on_commit,
    on_finish,
    publish,
    utcnow,
)

CSV_HEADER = ("device_id", "product_key", "device_name", "device_secret", "batch_no")
CSV_HEADER_LINE = (",".join(CSV_HEADER) + "\n").encode()
CSV_CHUNK = 5000
NAME_BYTES = 8  # device_name: 16 lowercase hex characters


def _product(oms: OMSState, tenant: str, product_id: int) -> ProductSnapshot:
    product = fetch_product(catalog=oms.catalog, client=oms.client, product_id=product_id,
                            tenant=tenant)
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
         "device_secret": secrets.token_hex(devices.SECRET_BYTES), "status": "produced",
         "remark": "",
         "created_at": now, "updated_at": now}
        for seq, name in enumerate(names, start=1)
    ]


def submit_batch(*, session: Session, oms: OMSState, tenant: str, data: BatchSubmit) -> Batch:
    """Create the batch and all its devices in the request's one transaction; the
    product cannot be removed until that transaction ends (``ProductGuard``). The flag
    is raised before the product is read, so a removal either sees the flag or has
    finished (its tombstone written) before the read."""
    oms.guard.start_producing(data.product_id)  # first: a removal that ends after this sees it
    on_finish(session, lambda: oms.guard.stop_producing(data.product_id))
    product = _product(oms, tenant, data.product_id)  # then: sees a removal ended before
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


def confirm_batch(*, session: Session, tenant: str, batch_id: str) -> Batch:
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


def remove_batch(*, session: Session, oms: OMSState, tenant: str, batch_id: str) -> None:
    """Remove a pending batch and its devices; a confirmed batch stays (40901)."""
    batch = batches.get_for_update(session=session, tenant=tenant, batch_id=batch_id)
    if batch.status != "pending":
        raise InvalidState(f"batch {batch.id} is confirmed; its devices are in stock")
    device_ids = devices.ids_in_batch(session=session, batch_id=batch.id)
    devices.delete_batch_devices(session=session, batch_id=batch.id)
    batches.delete(session=session, batch=batch)
    _announce_removed(session, oms, tenant=tenant, product_id=batch.product_id,
                      device_ids=device_ids)


class DownloadInterrupted(RuntimeError):
    """The batch changed while its CSV was streaming: the stream is cut short, which the
    client sees as fewer bytes than ``Content-Length`` (and fewer rows than
    ``X-Device-Count``)."""


@dataclass(frozen=True)
class Download:
    """A batch's CSV as it was when the download began."""

    tenant: str
    batch_id: int
    batch_no: str
    rows: int
    size: int  # bytes, header included

    @property
    def filename(self) -> str:
        return f"batch-{self.batch_no}.csv"


def start_download(*, session: Session, tenant: str, batch_id: str) -> Download:
    batch = batches.get_or_raise(session=session, tenant=tenant, batch_id=batch_id)
    rows, size = devices.csv_size(session=session, batch_id=batch.id)
    return Download(tenant=tenant, batch_id=batch.id, batch_no=batch.batch_no, rows=rows,
                    size=len(CSV_HEADER_LINE) + size)


def csv_lines(*, sessionmaker: Callable[[], Session], download: Download) -> Iterator[bytes]:
    """The batch's credentials as CSV, chunk by chunk (keyset on ``seq``).

    It runs while the response streams, after the request's own session is gone, so
    it holds a session of its own, closed when the stream ends or the client leaves.
    If the batch goes away meanwhile, it stops with :class:`DownloadInterrupted` short
    of the announced size, never with a shorter CSV that looks whole.
    """
    yield CSV_HEADER_LINE
    after, sent = 0, 0
    with sessionmaker() as session:
        while sent < download.rows:
            chunk = devices.get_batch_chunk(session=session, tenant=download.tenant,
                                            batch_id=download.batch_id,
                                            batch_no=download.batch_no, after_seq=after,
                                            size=min(CSV_CHUNK, download.rows - sent))
            session.rollback()  # hold no transaction (nor SQLite's lock) while streaming
            if not chunk:
                break
            if any(len(row[3]) != devices.SECRET_LENGTH for row in chunk):
                break  # not what the size counted: cut short rather than mislead
            yield "".join(",".join(row[:5]) + "\n" for row in chunk).encode()
            sent += len(chunk)
            after = chunk[-1][5]
    if sent != download.rows:
        raise DownloadInterrupted(f"batch {download.batch_id} changed during its download: "
                                  f"{sent} of {download.rows} devices sent")


# ---- devices in stock ------------------------------------------------------------------


def _in_stock(device: Device) -> None:
    if device.status == "produced":
        raise InvalidState(f"device {device.id} is not in stock: its batch is pending "
                           "(confirm or remove the batch)")


def _cut_off(session: Session, oms: OMSState, device: Device) -> None:
    """Once the change commits: the broker's next check reads the device anew, and its
    live connection is dropped."""
    on_commit(session, lambda: (channel.forget(oms, [device]), channel.kick(oms, [device.id])))


def remove_device(*, session: Session, oms: OMSState, tenant: str, device_id: str) -> None:
    device = devices.get_or_raise(session=session, tenant=tenant, device_id=device_id)
    _in_stock(device)
    devices.delete(session=session, device=device)
    _cut_off(session, oms, device)
    _announce_removed(session, oms, tenant=tenant, product_id=device.product_id,
                      device_ids=[device.id])


def disable_device(*, session: Session, oms: OMSState, tenant: str, device_id: str) -> Device:
    """A disabled device cannot connect, and its live connection is dropped; disabling
    one twice is harmless."""
    device = devices.get_or_raise(session=session, tenant=tenant, device_id=device_id)
    _in_stock(device)
    device.status = "disabled"
    session.flush()
    _cut_off(session, oms, device)
    return device


def enable_device(*, session: Session, oms: OMSState, tenant: str, device_id: str) -> Device:
    """Back to ``inactive`` (never connected) or ``offline``; enabling twice is harmless."""
    device = devices.get_or_raise(session=session, tenant=tenant, device_id=device_id)
    _in_stock(device)
    if device.status == "disabled":
        device.status = "offline" if device.activated_at is not None else "inactive"
        session.flush()
        on_commit(session, lambda: channel.forget(oms, [device]))
    return device


def _announce_removed(session: Session, oms: OMSState, *, tenant: str, product_id: int,
                      device_ids: list[str]) -> None:
    """Once the removal commits, tell other services which devices are gone."""
    publish(session, oms.redis, oms.keys,
            *DevicesRemoved.batched(tenant=tenant, product_id=product_id, device_ids=device_ids))
