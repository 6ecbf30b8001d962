"""Structured JSON log lines, each carrying the service and the request id."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime

from flask import Response, g, has_request_context, request

__all__ = ["JsonFormatter", "configure", "log_access", "start_timer"]

_access = logging.getLogger("oms.access")


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            line["request_id"] = g.get("oms_request_id", "")
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(service: str, level: str = "INFO") -> None:
    """Point the ``oms`` loggers at stderr as JSON; idempotent."""
    root = logging.getLogger("oms")
    root.setLevel(level.upper())
    root.propagate = False
    for handler in root.handlers:
        if getattr(handler, "oms_json", False):
            handler.setFormatter(JsonFormatter(service))
            return
    handler = logging.StreamHandler(sys.stderr)
    handler.oms_json = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter(service))
    root.addHandler(handler)


def start_timer() -> None:
    g.oms_started = time.perf_counter()


def log_access(response: Response) -> Response:
    if _access.isEnabledFor(logging.INFO):
        elapsed = (time.perf_counter() - g.get("oms_started", time.perf_counter())) * 1000
        _access.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "fields": {
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(elapsed, 2),
                }
            },
        )
    return response
