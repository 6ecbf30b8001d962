"""Run a service's worker: ``python -m oms_shared.worker <module>:<function>``.

A worker is a long-running function of a service that is not an HTTP handler (a
stream consumer, the MQTT ingest). It is declared in the service table
(``ServiceSpec.workers``) and the launcher runs each one in a process of its own,
restarts it when it dies and stops it with SIGTERM.

The function is called as ``function(app, stop)`` inside the service's app
context: ``app`` is the service's app from ``<service>_service.app.create_app()``
(settings, Redis, database), ``stop`` a :class:`threading.Event` set on SIGTERM or
SIGINT. It should return soon after ``stop`` is set; the process then exits 0.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask

from oms_shared._services import service_spec

__all__ = ["WorkerFunction", "load", "main", "run"]

WorkerFunction = Callable[[Flask, threading.Event], Any]
log = logging.getLogger("oms.worker")


def load(target: str) -> WorkerFunction:
    """The function a ``module:function`` target names."""
    module_name, _, function_name = target.partition(":")
    if not module_name or not function_name:
        raise SystemExit(f"worker {target!r}: expected <module>:<function>")
    function = getattr(importlib.import_module(module_name), function_name, None)
    if not callable(function):
        raise SystemExit(f"worker {target!r}: {module_name} has no function {function_name}")
    return function


def run(target: str, stop: threading.Event, service: str | None = None) -> None:
    """Run the worker inside its service's app; the service is ``OMS_SERVICE`` (the
    launcher sets it from the row) or the target's ``<name>_service`` package."""
    function = load(target)
    service = service or os.environ.get("OMS_SERVICE") or (
        target.split(".")[0].partition(":")[0].removesuffix("_service"))
    app = importlib.import_module(service_spec(service).app_module).create_app()
    with app.app_context():
        log.info("worker %s started", target)
        function(app, stop)
        log.info("worker %s stopped", target)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m oms_shared.worker <service>_service.<module>:<function>")
    stop = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run(args[0], stop)


if __name__ == "__main__":
    main()
