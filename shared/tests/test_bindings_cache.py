"""The seam the command endpoints use: "is user U bound to device D, and as what?",
answered from Redis, filled from the user service, never left stale by a change."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from flask import Flask, jsonify

from oms_shared import BindingCache, Keys, ServiceClient, load_settings
from oms_shared._redis_client import connect
from oms_shared.testing import serving

JWT_SECRET = "bindings-" + "x" * 40


class StandInUserService:
    """A stand-in for the user service's internal endpoint, over real HTTP: it answers
    from ``bindings`` and counts the calls; ``during`` runs while a call is answered."""

    def __init__(self) -> None:
        self.bindings: dict[str, dict[str, str]] = {}
        self.calls = 0
        self.during: Any = None
        self.app = Flask(__name__)
        self.app.add_url_rule("/internal/user/bindings/<device_id>", view_func=self.answer,
                              methods=["POST"])

    def answer(self, device_id: str) -> Any:
        self.calls += 1
        answer = dict(self.bindings.get(device_id, {}))
        if self.during is not None:
            self.during()
        return jsonify({"code": 0, "message": "ok", "data": {"bindings": answer}})


@pytest.fixture
def peer():
    return StandInUserService()


@pytest.fixture
def cache(peer, redis_prefix):
    with serving(peer.app) as url:
        settings = load_settings({"jwt": {"secret": JWT_SECRET},
                                  "redis": {"prefix": f"{redis_prefix}:b{secrets.token_hex(4)}"},
                                  "user": {"url": url}})
        client = connect(settings)
        yield BindingCache(client, Keys(settings.redis.prefix), ServiceClient(settings))
        client.close()


def test_a_miss_is_filled_once_and_then_answered_from_redis(cache, peer):
    peer.bindings["d1"] = {"u1": "owner", "u2": "member"}
    assert cache.role(tenant="t1", user_id="u1", device_id="d1") == "owner"
    assert cache.role(tenant="t1", user_id="u2", device_id="d1") == "member"
    assert cache.role(tenant="t1", user_id="u3", device_id="d1") is None
    assert peer.calls == 1
    assert cache.role(tenant="t1", user_id="u1", device_id="d2") is None  # no bindings
    assert cache.role(tenant="t1", user_id="u1", device_id="d2") is None
    assert peer.calls == 2  # "no bindings" is cached too


def test_a_change_is_seen_at_once_after_invalidation(cache, peer):
    peer.bindings["d1"] = {"u1": "member"}
    assert cache.role(tenant="t1", user_id="u1", device_id="d1") == "member"
    peer.bindings["d1"] = {}  # the user service unbinds and commits, then invalidates
    cache.invalidate("t1", ["d1"])
    assert cache.role(tenant="t1", user_id="u1", device_id="d1") is None


def test_an_answer_read_before_a_change_is_never_cached_after_it(cache, peer):
    """The unbind commits and invalidates while a reader's fill is on its way."""
    peer.bindings["d1"] = {"u1": "member"}

    def unbind_meanwhile() -> None:
        peer.bindings["d1"] = {}
        cache.invalidate("t1", ["d1"])
        peer.during = None

    peer.during = unbind_meanwhile
    assert cache.role(tenant="t1", user_id="u1", device_id="d1") == "member"  # its read
    assert cache.role(tenant="t1", user_id="u1", device_id="d1") is None  # not cached
    assert peer.calls == 2


def test_tenants_are_cached_apart(cache, peer):
    peer.bindings["d1"] = {"u1": "owner"}
    assert cache.role(tenant="t1", user_id="u1", device_id="d1") == "owner"
    peer.bindings["d1"] = {}  # what the user service answers another tenant
    assert cache.role(tenant="t2", user_id="u1", device_id="d1") is None
    assert cache.role(tenant="t1", user_id="u1", device_id="d1") == "owner"
