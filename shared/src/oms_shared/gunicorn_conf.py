"""Gunicorn settings every OMS service runs with: ``gunicorn -c python:oms_shared.gunicorn_conf``.

Environment: ``OMS_BIND`` (host:port), ``OMS_WORKERS``, ``OMS_THREADS`` and
``OMS_ADVERTISE_ADDRESS`` (the address peers and the registry know the
instance by; defaults to the bind address, with the host name for 0.0.0.0).
Each worker starts the registry heartbeat and the revocation watcher
(:mod:`oms_shared._revocation`); the master marks the instance
stopped when it exits, so the service list shows ``down`` at once.
"""

from __future__ import annotations

import os
import socket
import time

bind = os.environ.get("OMS_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("OMS_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("OMS_THREADS", "4"))
keepalive = 75
graceful_timeout = 5
timeout = 60
accesslog = None
errorlog = "-"
loglevel = "warning"


def _address() -> str:
    advertised = os.environ.get("OMS_ADVERTISE_ADDRESS")
    if advertised:
        return advertised
    host, _, port = bind.rpartition(":")
    if host in ("0.0.0.0", "", "[::]"):
        host = socket.gethostname()
    return f"{host}:{port}"


def on_starting(server) -> None:
    os.environ.setdefault("OMS_STARTED_AT", str(time.time()))


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
