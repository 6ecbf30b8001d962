"""Sending a command to one device and waiting for its answer.

The checks run in the order callers are promised (docs/api.md), each with its code:
the device in the caller's tenant (40401), the user bound to it (40300), the product and
the device enabled (40901), the device online (40910), the params valid against the
thing model (40001 with the path of the bad field).

Then the command is written and committed **before** it is published, so nothing
reaches a device that the command log does not show; the wait holds no transaction.
This is the one flow that commits on its own (``db.scoped()``) rather than at the end of
the request: the record must be durable before the publish, and a timeout (answered
504, which the request boundary would roll back) must be recorded too.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from command_service import commands, jobs
from command_service.db import db
from command_service.models import Command, Job
from command_service.schemas import CommandQuery, GroupCommand, JobQuery
from command_service.waiting import Waiter
from oms_shared import (
    BrokerMessage,
    DeviceOffline,
    DeviceTimeout,
    Forbidden,
    InvalidState,
    NotFound,
    OMSState,
    ProductSnapshot,
    Publisher,
    Unavailable,
    ValidationFailed,
    check_property_set,
    check_service_call,
    fetch_product,
    str_id,
    topic_key,
    utcnow,
)

PROPERTY_SET, SERVICE = "property_set", "service"
OFFLINE = ("inactive", "offline")


def channel(oms: OMSState) -> tuple[Publisher, Waiter]:
    """This process's publisher and reply waiter, made on first use (after the fork)."""
    extra = oms.extra
    if "publisher" not in extra:
        extra["publisher"] = Publisher(oms.settings.broker.amqp_url.get_secret_value())
        extra["waiter"] = Waiter(oms.redis, oms.keys)
    return extra["publisher"], extra["waiter"]


def command_topic(product_key: str, device_name: str, kind: str, identifier: str | None) -> str:
    suffix = "property/set" if kind == PROPERTY_SET else identifier
    return f"/sys/{product_key}/{device_name}/thing/service/{suffix}"


def command_message(command: Command) -> BrokerMessage:
    """What the device receives (Aliyun's Alink shape: id, version, params, method)."""
    method = ("thing.service.property.set" if command.kind == PROPERTY_SET
              else f"thing.service.{command.identifier}")
    body = {"id": command.message_id, "version": "1.0", "params": command.params,
            "method": method}
    topic = command_topic(command.product_key, command.device_name, command.kind,
                          command.identifier)
    return BrokerMessage(routing_key=topic_key(topic),
                         body=json.dumps(body, ensure_ascii=False).encode())


def device_brief(oms: OMSState, device_id: str) -> dict[str, Any]:
    """The caller's device (any status), from the device service; else 40401."""
    if str_id(device_id) is None:
        raise NotFound("device", device_id)
    found = oms.client.post("device", "/internal/device/brief", {"device_ids": [device_id]},
                            idempotent=True)["devices"]
    if not found:
        raise NotFound("device", device_id)
    return found[0]


def _checked(oms: OMSState, *, tenant: str, user_id: str,
             device_id: str) -> tuple[dict[str, Any], ProductSnapshot]:
    device = device_brief(oms, device_id)
    if oms.bindings.role(tenant=tenant, user_id=user_id, device_id=device_id) is None:
        raise Forbidden(f"user {user_id} is not bound to device {device_id}")
    product = fetch_product(catalog=oms.catalog, client=oms.client,
                            product_id=device["product_id"], tenant=tenant)
    if not product.enabled:
        raise InvalidState(f"product {product.id} is disabled")
    if device["status"] == "disabled":
        raise InvalidState(f"device {device_id} is disabled")
    if device["status"] == "produced":
        raise InvalidState(f"device {device_id} is not in stock (its batch is pending)")
    if device["status"] in OFFLINE:
        raise DeviceOffline(f"device {device_id} is offline")
    return device, product


def send(oms: OMSState, *, tenant: str, app_id: str, user_id: str,
         device_id: str, kind: str, identifier: str | None, params: dict[str, Any],
         timeout_ms: int) -> dict[str, Any]:
    """Check, record, publish and (unless the service is asynchronous) wait."""
    device, product = _checked(oms, tenant=tenant, user_id=user_id, device_id=device_id)
    model = product.model()
    call_type = "sync"
    if kind == PROPERTY_SET:
        check_property_set(model, params)
    else:
        call_type = check_service_call(model, identifier or "", params).callType
    publisher, waiter = channel(oms)
    now = utcnow()
    with db.scoped() as session:
        command = commands.create(
            session=session, message_id=_message_id(), tenant=tenant, device_id=device_id,
            product_key=device["product_key"], device_name=device["device_name"], kind=kind,
            identifier=identifier, call_type=call_type, params=params, user_id=user_id,
            app_id=app_id, status="sent", timeout_ms=timeout_ms, created_at=now,
            reply_to=waiter.channel if call_type == "sync" else None)
        commands.mark_sent(session=session, command=command, now=now)
        message_id, message = command.message_id, command_message(command)
    slot = waiter.expect(message_id) if call_type == "sync" else None
    try:
        publisher.publish(message)
    except Unavailable:
        with db.scoped() as session:
            commands.undeliverable(session=session, message_ids=[message_id])
        raise
    if slot is None:
        return {"message_id": message_id}
    reply = waiter.wait(message_id, slot, timeout_ms / 1000)
    if reply is not None:
        return {"message_id": message_id, "code": reply["code"], "data": reply["data"]}
    with db.scoped() as session:
        if not commands.time_out(session=session, message_ids=[message_id]):
            landed = commands.get(session=session, message_id=message_id)
            if landed is not None and landed.replied_at is not None:  # missed the signal
                return {"message_id": message_id, "code": landed.code, "data": landed.data}
    raise DeviceTimeout(f"device {device_id} did not answer within {timeout_ms} ms",
                        data={"message_id": message_id})


def _message_id() -> str:
    return uuid.uuid4().hex


def history(*, oms: OMSState, tenant: str, device_id: str,
            query: CommandQuery) -> dict[str, Any]:
    """A device of the caller's (else 40401): its command log, newest first."""
    device_brief(oms, device_id)
    return commands.get_all(session=db.session, tenant=tenant, device_id=device_id,
                            query=query)


# ---- group jobs --------------------------------------------------------------------------

PAGE = 500


def _pages(oms: OMSState, path: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        data = oms.client.post("group", path, {"page": page, "page_size": PAGE}, idempotent=True)
        rows += data["list"]
        if len(data["list"]) < PAGE:
            return rows
        page += 1


def _group_devices(oms: OMSState, group_id: str, user_id: str) -> list[dict[str, Any]]:
    """The group's devices (briefs), once the user is its owner or a member (else 40300)."""
    if str_id(group_id) is None:  # it goes into the group service's paths: an id, or none
        raise NotFound("group", group_id)
    group = oms.client.post("group", f"/oms/group/detail/{group_id}", idempotent=True)
    if group.get("owner_id") != user_id and user_id not in {
            m["user_id"] for m in _pages(oms, f"/oms/group/member/{group_id}")}:
        raise Forbidden(f"user {user_id} is neither the owner nor a member of group {group_id}")
    ids = [d["device_id"] for d in _pages(oms, f"/oms/group/device/{group_id}")]
    devices: list[dict[str, Any]] = []
    for start in range(0, len(ids), 1000):
        devices += oms.client.post("device", "/internal/device/brief",
                                   {"device_ids": ids[start:start + 1000]},
                                   idempotent=True)["devices"]
    return devices


def start_job(oms: OMSState, *, tenant: str, app_id: str, body: GroupCommand) -> dict[str, Any]:
    """Check the user and the params against every product in the group, then queue one
    command per device; the dispatch worker sends them at ``rate`` per second."""
    devices = _group_devices(oms, body.group_id, body.user_id)
    call_types: dict[int, str] = {}
    for product_id in sorted({d["product_id"] for d in devices}):
        product = fetch_product(catalog=oms.catalog, client=oms.client, product_id=product_id,
                                tenant=tenant)
        try:
            if body.kind == PROPERTY_SET:
                check_property_set(product.model(), body.params)
                call_types[product_id] = "sync"
            else:
                call_types[product_id] = check_service_call(
                    product.model(), body.service or "", body.params).callType
        except ValidationFailed as exc:
            why = f"product {product.product_key} refuses the command: {exc.message}"
            raise ValidationFailed(exc.errors, why) from None
    job = Job(tenant=tenant, group_id=body.group_id, user_id=body.user_id, app_id=app_id,
              kind=body.kind, identifier=body.service, params=body.params, rate=body.rate,
              timeout_ms=body.timeout_ms, status="running" if devices else "done",
              total=len(devices), finished_at=None if devices else utcnow())
    now = utcnow()
    rows = [{"message_id": _message_id(), "tenant": tenant, "device_id": d["id"],
             "product_key": d["product_key"], "device_name": d["device_name"],
             "kind": body.kind, "identifier": body.service,
             "call_type": call_types[d["product_id"]], "params": body.params,
             "user_id": body.user_id, "app_id": app_id, "job_id": job.id, "status": "queued",
             "timeout_ms": body.timeout_ms, "created_at": now} for d in devices]
    job.id = job.id or str(uuid.uuid4())
    for row in rows:
        row["job_id"] = job.id
    jobs.create(session=db.session, job=job, commands=rows)
    return {"job_id": job.id, "total": job.total}


def job_detail(*, tenant: str, job_id: str, query: JobQuery) -> dict[str, Any]:
    job = jobs.get_or_raise(session=db.session, tenant=tenant, job_id=job_id)
    return {"job_id": job.id, "group_id": job.group_id, "user_id": job.user_id,
            "kind": job.kind, "identifier": job.identifier, "params": job.params,
            "rate": job.rate, "status": job.status, "total": job.total,
            "counts": jobs.counts(session=db.session, job_id=job.id),
            "created_at": job.created_at, "finished_at": job.finished_at,
            "list": jobs.results(session=db.session, job_id=job.id, query=query),
            "page": query.page, "page_size": query.page_size}


def cancel_job(*, tenant: str, job_id: str, query: JobQuery) -> dict[str, Any]:
    job = jobs.get_or_raise(session=db.session, tenant=tenant, job_id=job_id)
    jobs.cancel(session=db.session, job=job)
    return job_detail(tenant=tenant, job_id=job_id, query=query)
