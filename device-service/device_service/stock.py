"""Managing devices in stock: remove, disable, enable."""

from __future__ import annotations

from sqlalchemy.orm import Session

from device_service import devices
from device_service.lifecycle import announce_removed
from device_service.models import Device
from oms_shared import InvalidState, OMSState


def _in_stock(device: Device) -> None:
    if device.status == "produced":
        raise InvalidState(f"device {device.id} is not in stock: its batch is pending "
                           "(confirm or remove the batch)")


def remove(*, session: Session, oms: OMSState, tenant: str, device_id: str) -> None:
    device = devices.get_or_raise(session=session, tenant=tenant, device_id=device_id)
    _in_stock(device)
    devices.delete(session=session, device=device)
    announce_removed(session=session, oms=oms, tenant=tenant, product_id=device.product_id,
                     device_ids=[device.id])


def disable(*, session: Session, tenant: str, device_id: str) -> Device:
    """A disabled device cannot connect; disabling one twice is harmless."""
    device = devices.get_or_raise(session=session, tenant=tenant, device_id=device_id)
    _in_stock(device)
    device.status = "disabled"
    session.flush()
    return device


def enable(*, session: Session, tenant: str, device_id: str) -> Device:
    """Back to ``inactive`` (never connected) or ``offline``; enabling twice is harmless."""
    device = devices.get_or_raise(session=session, tenant=tenant, device_id=device_id)
    _in_stock(device)
    if device.status == "disabled":
        device.status = "offline" if device.activated_at is not None else "inactive"
        session.flush()
    return device
