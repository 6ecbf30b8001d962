"""Gunicorn settings every OMS service runs with: ``gunicorn -c python:oms_shared.gunicorn_conf``.

Environment: ``OMS_SERVICE`` (its row of the service table says whether requests run
on threads or, for a service whose requests mostly wait, on greenlets: gevent),
``OMS_BIND`` (host:port), ``OMS_WORKERS``, ``OMS_THREADS`` (threads per worker, or
a hundred times that many greenlets) and
``OMS_ADVERTISE_ADDRESS`` (the address peers and the registry know the
instance by; defaults to the bind address, with the host name for 0.0.0.0).
Each worker starts the registry heartbeat and the revocation watcher
(:mod:`oms_shared._revocation`); the master marks the instance
stopped when it exits, so the service list shows ``down`` at once.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid

bind = os.environ.get("OMS_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("OMS_WORKERS", "2"))
threads = int(os.environ.get("OMS_THREADS", "4"))


def _worker_class() -> str:
    from oms_shared._services import ServiceTableError, service_spec

    try:
        spec = service_spec(os.environ.get("OMS_SERVICE", ""))
    except ServiceTableError:  # not an OMS service (the benchmark's bare app)
        return "gthread"
    return "gevent" if spec.concurrency == "greenlets" else "gthread"


worker_class = _worker_class()
worker_connections = threads * 100  # gevent: concurrent requests per worker
keepalive = 75
graceful_timeout = 5
timeout = 60
accesslog = None
errorlog = "-"
loglevel = "warning"
# The gateway refuses a request line or header line over 4 KiB and more than 16 KiB of
# headers itself (gateway/oms_gateway/templates/nginx.conf.j2); gunicorn's limits lie
# above anything it passes on, so an oversized request is always the gateway's answer.
limit_request_line = 8190
limit_request_field_size = 8190
limit_request_fields = 8192


def write_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's answer to a request it refuses before the app sees it (a method or
    bytes it cannot parse), as the envelope instead of its HTML page: code status*100,
    a request id of its own in the body and the header, and never ``mesg`` (it quotes the
    caller's input). Installed over ``gunicorn.util.write_error`` by :func:`on_starting`."""
    from gunicorn import util

    request_id = uuid.uuid4().hex
    body = json.dumps({"code": status_int * 100, "message": reason.lower(), "data": None,
                       "request_id": request_id}, separators=(",", ":")).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-Request-ID: {request_id}\r\nX-Content-Type-Options: nosniff\r\n"
            "Cache-Control: no-store\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


def _address() -> str:
    advertised = os.environ.get("OMS_ADVERTISE_ADDRESS")
    if advertised:
        return advertised
    host, _, port = bind.rpartition(":")
    if host in ("0.0.0.0", "", "[::]"):
        host = socket.gethostname()
    return f"{host}:{port}"


def on_starting(server) -> None:
    from gunicorn import util

    os.environ.setdefault("OMS_STARTED_AT", str(time.time()))
    util.write_error = write_error  # the workers, forked after this, answer in JSON


def post_worker_init(worker) -> None:
    from oms_shared._registry import Heartbeat
    from oms_shared._revocation import GenerationWatcher

    oms = getattr(worker.wsgi, "extensions", {}).get("oms")
    if oms is None:  # not an OMS service (the benchmark's bare app)
        return
    beat = Heartbeat(oms.registry, oms.service, _address(), oms.settings.version,
                     oms.settings.heartbeat_interval,
                     started_at=float(os.environ.get("OMS_STARTED_AT", time.time())))
    beat.start()
    oms.extra["heartbeat"] = beat
    watcher = GenerationWatcher(oms.revocations)
    watcher.start()
    oms.extra["revocation_watcher"] = watcher


def on_exit(server) -> None:
    from oms_shared._keys import Keys
    from oms_shared._redis_client import connect
    from oms_shared._registry import Registry
    from oms_shared._settings import load_settings

    service = os.environ.get("OMS_SERVICE")
    if not service:
        return
    try:
        settings = load_settings()
        registry = Registry(connect(settings), Keys(settings.redis.prefix))
        registry.mark_stopped(service, _address())
    except Exception as exc:  # best effort on the way out
        server.log.warning("could not mark the instance stopped: %s", type(exc).__name__)
