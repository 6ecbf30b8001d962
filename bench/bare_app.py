"""The floor of the gateway benchmark: a bare Flask JSON endpoint, nothing else."""

from __future__ import annotations

import json

from flask import Flask, Response


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/bare")
    def bare() -> Response:
        body = {"code": 0, "message": "ok", "data": {"status": "ok"}, "request_id": "x" * 32}
        return Response(json.dumps(body), mimetype="application/json")

    return app
