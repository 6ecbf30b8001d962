"""Request ids: taken from ``X-Request-ID`` when it is sane, made up otherwise."""

from __future__ import annotations

import re
import uuid

from flask import Response, g, request

__all__ = ["assign", "current_request_id", "echo"]

HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def current_request_id() -> str:
    return g.get("oms_request_id", "")


def assign() -> None:
    given = request.headers.get(HEADER, "")
    g.oms_request_id = given if _SANE.match(given) else uuid.uuid4().hex


def echo(response: Response) -> Response:
    response.headers[HEADER] = current_request_id()
    return response
