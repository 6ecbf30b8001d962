from flask import Response, request

from device_service import batches, channel, devices, flows, logs, properties
from device_service.db import db
from device_service.schemas import (
    BatchList,
    BatchRead,
    BatchSubmit,
    BatchUpdate,
    Counts,
    DeviceBriefs,
    DeviceCounts,
    DeviceDetail,
    DeviceIds,
    DeviceList,
    DeviceRead,
    DeviceUpdate,
    EventLogPage,
    LogQuery,
    PropertyLogPage,
    PropertyValue,
)
from oms_shared import (
    Api,
    Conflict,
    Empty,
    File,
    Header,
    InvalidState,
    NotFound,
    Page,
    PageQuery,
    current_tenant,
    public,
    state,
)

api = Api("device", __name__)

#: The credentials CSV (``/oms/produce/download/{id}``): what the document shows of it.
CREDENTIALS = File(
    media_type="text/csv",
    description="the batch's credentials, one device a line after the header line",
    headers={
        "Content-Disposition": Header(
            'attachment; filename="batch-{batch_no}.csv"',
            {"type": "string", "pattern": r'^attachment; filename="batch-[A-Za-z0-9_.-]+\.csv"$'}),
        "Content-Length": Header("the CSV's size in bytes, known up front: a stream cut "
                                 "short is shorter", {"type": "string", "pattern": "^[0-9]+$"}),
        "X-Device-Count": Header("the rows that follow the header line",
                                 {"type": "string", "pattern": "^[0-9]+$"}),
    },
    schema={"type": "string", "pattern": "^{}\n({}\n)*$".format(
        ",".join(flows.CSV_HEADER), ",".join(["[^,\n]+"] * len(flows.CSV_HEADER)))})


def _page(rows: list, total: int, query: PageQuery) -> dict:
    return {"list": rows, "total": total, "page": query.page, "page_size": query.page_size}


# ---- production batches ------------------------------------------------------------------


@api.post("/oms/produce/list", body=BatchList, returns=Page[BatchRead])
def produce_list(body: BatchList) -> dict:
    """List production batches; ``name`` matches a substring."""
    rows, total = batches.get_all(session=db.session, tenant=current_tenant(), query=body)
    return _page(rows, total, body)


@api.post("/oms/produce/detail/<batch_id>", returns=BatchRead)
def produce_detail(body: Empty, batch_id: str) -> object:
    """A production batch."""
    return batches.get_or_raise(session=db.session, tenant=current_tenant(), batch_id=batch_id)


@api.post("/oms/produce/update/<batch_id>", body=BatchUpdate, returns=BatchRead)
def produce_update(body: BatchUpdate, batch_id: str) -> object:
    """Change a batch's name or remark."""
    batch = batches.get_or_raise(session=db.session, tenant=current_tenant(), batch_id=batch_id)
    return batches.update(session=db.session, batch=batch, data=body)


@api.post("/oms/produce/remove/<batch_id>", errors=(InvalidState,))
def produce_remove(body: Empty, batch_id: str) -> None:
    """Remove a pending batch and its devices (a confirmed batch: 40901)."""
    flows.remove_batch(session=db.session, oms=state(), tenant=current_tenant(),
                      batch_id=batch_id)


@api.post("/oms/produce/submit", body=BatchSubmit, returns=BatchRead,
          errors=(NotFound, Conflict, InvalidState), resource="batch")
def produce_submit(body: BatchSubmit) -> object:
    """Produce a batch of ``amount`` devices (1..100000) of an enabled product."""
    return flows.submit_batch(session=db.session, oms=state(), tenant=current_tenant(),
                             data=body)


@api.post("/oms/produce/confirm/<batch_id>", returns=BatchRead, errors=(InvalidState,))
def produce_confirm(body: Empty, batch_id: str) -> object:
    """Put a pending batch formally into stock (twice: 40901)."""
    return flows.confirm_batch(session=db.session, tenant=current_tenant(), batch_id=batch_id)


@api.post("/oms/produce/device/<batch_id>", body=PageQuery, returns=Page[DeviceRead])
def produce_devices(body: PageQuery, batch_id: str) -> dict:
    """A batch's devices, in production order (no secrets: download them)."""
    batch = batches.get_or_raise(session=db.session, tenant=current_tenant(), batch_id=batch_id)
    rows, total = devices.get_batch_page(session=db.session, batch_id=batch.id, query=body)
    return _page(rows, total, body)


@api.post("/oms/produce/download/<batch_id>", returns=CREDENTIALS)
def produce_download(body: Empty, batch_id: str) -> Response:
    """The batch's credentials as CSV (text/csv, streamed):
    ``device_id,product_key,device_name,device_secret,batch_no``. ``Content-Length`` and
    ``X-Device-Count`` are known up front: a stream cut short (the batch was removed
    meanwhile) is shorter than announced."""
    download = flows.start_download(session=db.session, tenant=current_tenant(),
                                         batch_id=batch_id)
    lines = flows.csv_lines(sessionmaker=db.sessionmaker, download=download)
    return Response(lines, mimetype="text/csv", headers={
        "Content-Length": str(download.size), "X-Device-Count": str(download.rows),
        "Content-Disposition": f'attachment; filename="{download.filename}"'})


# ---- devices in stock --------------------------------------------------------------------


@api.post("/oms/device/list", body=DeviceList, returns=Page[DeviceRead], resource="device")
def device_list(body: DeviceList) -> dict:
    """Devices in stock; ``name`` matches a substring."""
    rows, total = devices.get_all(session=db.session, tenant=current_tenant(), query=body)
    return _page(rows, total, body)


@api.post("/oms/device/update/<device_id>", body=DeviceUpdate, returns=DeviceRead)
def device_update(body: DeviceUpdate, device_id: str) -> object:
    """Change a device's name or remark."""
    device = devices.get_or_raise(session=db.session, tenant=current_tenant(),
                                  device_id=device_id)
    return devices.update(session=db.session, device=device, data=body)


@api.post("/oms/device/detail/<device_id>", returns=DeviceDetail)
def device_detail(body: Empty, device_id: str) -> object:
    """A device with its secret and its latest reported properties."""
    device = devices.get_or_raise(session=db.session, tenant=current_tenant(),
                                  device_id=device_id)
    latest = properties.get_latest(session=db.session, device_id=device.id)
    return DeviceDetail.model_validate(device).model_copy(update={"properties": {
        key: PropertyValue(value=value, time=time) for key, (value, time) in latest.items()}})


@api.post("/oms/device/remove/<device_id>", errors=(InvalidState,))
def device_remove(body: Empty, device_id: str) -> None:
    """Remove a device in stock."""
    flows.remove_device(session=db.session, oms=state(), tenant=current_tenant(),
                        device_id=device_id)


@api.post("/oms/device/disable/<device_id>", returns=DeviceRead, errors=(InvalidState,))
def device_disable(body: Empty, device_id: str) -> object:
    """Disable a device: it can no longer connect."""
    return flows.disable_device(session=db.session, oms=state(), tenant=current_tenant(),
                                device_id=device_id)


@api.post("/oms/device/enable/<device_id>", returns=DeviceRead, errors=(InvalidState,))
def device_enable(body: Empty, device_id: str) -> object:
    """Enable a disabled device again."""
    return flows.enable_device(session=db.session, oms=state(), tenant=current_tenant(),
                               device_id=device_id)


@api.post("/internal/device/counts", body=DeviceCounts, returns=Counts)
def device_counts(body: DeviceCounts) -> dict:
    """Internal (not routed by the gateway): devices per product, for the product service."""
    return {"counts": devices.count_by_product(session=db.session, tenant=current_tenant(),
                                               product_ids=body.product_ids)}


@api.post("/internal/device/brief", body=DeviceIds, returns=DeviceBriefs)
def device_brief(body: DeviceIds) -> dict:
    """Internal: the caller's devices among ``device_ids`` (up to 1000), in any status;
    unknown and other tenants' ids are left out. One call per page of bindings or group
    devices, never one per row."""
    return {"devices": devices.get_many(session=db.session, tenant=current_tenant(),
                                        device_ids=body.device_ids)}


# ---- the broker's checks (rabbitmq_auth_backend_http: form fields in, "allow"/"deny" out)


def _answer(allowed: bool) -> Response:
    return Response("allow" if allowed else "deny", mimetype="text/plain")


@public
def broker_user() -> Response:
    """May this MQTT client connect? (username, password, client_id)"""
    form = request.form
    return _answer(channel.may_connect_safely(
        db.session, state(), username=form.get("username", ""),
        password=form.get("password", ""), client_id=form.get("client_id", "")))


@public
def broker_vhost() -> Response:
    return _answer(request.form.get("vhost") == "/"
                   and channel.parse_username(request.form.get("username", "")) is not None)


@public
def broker_resource() -> Response:
    form = request.form
    return _answer(channel.may_use_resource(username=form.get("username", ""),
                                            resource=form.get("resource", ""),
                                            name=form.get("name", "")))


@public
def broker_topic() -> Response:
    form = request.form
    return _answer(channel.may_use_topic(username=form.get("username", ""),
                                         routing_key=form.get("routing_key", "")))


for _path, _view in (("user", broker_user), ("vhost", broker_vhost),
                     ("resource", broker_resource), ("topic", broker_topic)):
    api.blueprint.add_url_rule(f"/internal/broker/{_path}", view_func=_view, methods=["POST"],
                               provide_automatic_options=False)


# ---- what devices report ---------------------------------------------------------------


def _log_page(rows: list, total: int, cursor: str | None, query: LogQuery) -> dict:
    return {**_page(rows, total, query), "next_cursor": cursor}


@api.post("/oms/device/property/logs/<device_id>", body=LogQuery, returns=PropertyLogPage)
def device_property_logs(body: LogQuery, device_id: str) -> dict:
    """A device's reported property values, newest first. ``page`` pages by offset;
    ``cursor`` (a previous page's ``next_cursor``) pages by key, as cheap at any depth.
    Filters: ``identifier``, ``start_time``/``end_time`` (inclusive)."""
    device = devices.get_or_raise(session=db.session, tenant=current_tenant(),
                                  device_id=device_id)
    return _log_page(*logs.property_page(session=db.session, device_id=device.id,
                                         query=body), body)


@api.post("/oms/device/event/logs/<device_id>", body=LogQuery, returns=EventLogPage)
def device_event_logs(body: LogQuery, device_id: str) -> dict:
    """A device's events, newest first; paging and filters as the property log's."""
    device = devices.get_or_raise(session=db.session, tenant=current_tenant(),
                                  device_id=device_id)
    return _log_page(*logs.event_page(session=db.session, device_id=device.id, query=body),
                     body)
