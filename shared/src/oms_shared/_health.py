"""``/healthz`` (the process answers) and ``/readyz`` (its dependencies answer)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from oms_shared._auth import public
from oms_shared._envelope import render, success

__all__ = ["blueprint"]

blueprint = Blueprint("oms_health", __name__)


@blueprint.route("/healthz", methods=["GET", "POST"])
@public
def healthz() -> Response:
    return success({"status": "ok", "service": current_app.extensions["oms"].service})


@blueprint.route("/readyz", methods=["GET", "POST"])
@public
def readyz() -> Response:
    checks: dict[str, str] = {}
    try:
        current_app.extensions["oms"].redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = type(exc).__name__
    db = current_app.extensions.get("oms_db")
    if db is not None:
        try:
            # A raw DBAPI connection: no transaction, so no wait on a writer's lock.
            conn = db.engine.raw_connection()
            try:
                conn.cursor().execute("SELECT 1")
            finally:
                conn.close()
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = type(exc).__name__
    if all(v == "ok" for v in checks.values()):
        return success({"status": "ready", "checks": checks})
    return render(503, 50300, "not ready", {"status": "not ready", "checks": checks})
