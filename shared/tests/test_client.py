"""The service-to-service client against a real HTTP peer."""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask, request
from werkzeug.serving import make_server

from oms_gateway.stack import free_port
from oms_shared import _errors as errors
from oms_shared._client import ServiceClient
from oms_shared._envelope import success
from oms_shared._settings import load_settings


@pytest.fixture(scope="module")
def peer():
    app = Flask("peer")
    calls = {"n": 0}

    @app.post("/echo")
    def echo():
        calls["n"] += 1
        return success({"request_id": request.headers.get("X-Request-ID"),
                        "token": request.headers.get("Token"), "body": request.get_json()})

    @app.post("/missing")
    def missing():
        raise errors.NotFound("product", 7)

    @app.post("/slow")
    def slow():
        calls["slow"] = calls.get("slow", 0) + 1
        time.sleep(0.6)
        return success(None)

    app.register_error_handler(errors.OMSError, lambda e: (
        {"code": e.code, "message": e.message, "data": e.data, "request_id": ""}, e.status))
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", calls
    server.shutdown()


def _client(url: str, **extra) -> ServiceClient:
    settings = load_settings({"product": {"url": url}, **extra},
                             environ={"OMS_JWT__SECRET": "s" * 40})
    return ServiceClient(settings)


def test_passes_request_id_and_token_from_the_incoming_request(peer):
    url, _ = peer
    caller = Flask("caller")
    client = _client(url)
    with caller.test_request_context(headers={"Token": "tok-1"}):
        from flask import g

        g.oms_request_id = "rid-42"
        data = client.post("product", "/echo", {"a": 1})
    assert data == {"request_id": "rid-42", "token": "tok-1", "body": {"a": 1}}


def test_peer_errors_keep_their_code(peer):
    url, _ = peer
    with pytest.raises(errors.NotFound, match="product 7 not found"):
        _client(url).post("product", "/missing")


def test_a_peer_that_is_down_is_unavailable():
    client = _client(f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(errors.Unavailable):
        client.post("product", "/echo")
    assert time.monotonic() - started < 5


def test_a_timeout_is_retried_only_when_idempotent(peer):
    url, calls = peer
    client = _client(url, service_timeout=0.2)
    calls["slow"] = 0
    with pytest.raises(errors.Unavailable):
        client.post("product", "/slow")
    assert calls["slow"] == 1
    with pytest.raises(errors.Unavailable):
        client.post("product", "/slow", idempotent=True)
    time.sleep(0.7)
    assert calls["slow"] == 1 + 1 + client.retries


def test_an_unconfigured_peer_is_unavailable():
    with pytest.raises(errors.Unavailable, match="no url"):
        _client("").post("product", "/echo")


@pytest.mark.parametrize("path", ["/oms/group/detail/../member/x", "/oms/group/detail/a?b",
                                  "/oms/group/detail/a%2Fb", "/oms/group/detail/", "echo",
                                  "/oms/group/detail/a b", "/oms/group/detail/é"])
def test_a_path_that_is_not_plain_segments_is_never_requested(peer, path):
    """An id from a request made into a peer's path (``/oms/group/detail/{group_id}``) can
    name another endpoint (``..``), a query (``?``) or nothing: the client refuses to send
    such a path (the caller must check the id first), so it never reaches a peer."""
    url, calls = peer
    before = dict(calls)
    with pytest.raises(ValueError, match="plain segments"):
        _client(url).post("product", path)
    assert calls == before
