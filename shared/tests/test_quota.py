"""Each app's request quota: a token bucket per app in real Redis, checked after the token
(429/42900 with ``Retry-After``), failing open when Redis cannot answer. Through the real
gateway: tests/test_quota_e2e.py."""

from __future__ import annotations

import logging
import secrets
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from oms_shared import Keys, RateLimited, free_port
from oms_shared._quota import OPEN_FOR, Quota
from oms_shared.testing import token_for


@pytest.fixture
def keys(redis_prefix):
    return Keys(f"{redis_prefix}-quota-{secrets.token_hex(3)}")


def test_a_bucket_gives_its_burst_then_refills_at_the_rate(redis_client, keys):
    quota = Quota(redis_client, keys, rate=10, burst=3)
    assert [quota.take("app-a") for _ in range(3)] == [None, None, None]
    wait = quota.take("app-a")
    assert wait is not None and 0 < wait <= 0.1
    time.sleep(0.12)  # one token back (10 a second)
    assert quota.take("app-a") is None
    assert quota.take("app-a") is not None
    ttl = redis_client.pttl(keys.quota("app-a"))
    assert 0 < ttl <= 1000 + 300  # gone once it would be full again, plus a second


def test_apps_have_buckets_of_their_own(redis_client, keys):
    quota = Quota(redis_client, keys, rate=1, burst=2)
    assert [quota.take("app-a") for _ in range(2)] == [None, None]
    assert quota.take("app-a") is not None
    assert [quota.take("app-b") for _ in range(2)] == [None, None]  # untouched by app-a
    assert quota.take("app-b") is not None


def test_every_instance_drains_the_same_bucket(redis_client, keys):
    one, two = (Quota(redis_client, keys, rate=1, burst=4) for _ in range(2))
    assert [q.take("app-a") for q in (one, two, one, two)] == [None] * 4
    assert one.take("app-a") is not None and two.take("app-a") is not None


@pytest.mark.parametrize(("rate", "retry_after"), [(0.25, 4), (0.4, 3), (2, 1), (100, 1)])
def test_retry_after_is_the_whole_seconds_until_a_token_is_there(redis_client, keys, rate,
                                                                   retry_after):
    quota = Quota(redis_client, keys, rate=rate, burst=1)
    quota.check("app-a")
    with pytest.raises(RateLimited) as refused:
        quota.check("app-a")
    assert refused.value.retry_after == retry_after
    assert (refused.value.status, refused.value.code) == (429, 42900)


def test_rate_zero_turns_the_quota_off(redis_client, keys):
    quota = Quota(redis_client, keys, rate=0, burst=1)
    assert all(quota.take("app-a") is None for _ in range(50))
    assert redis_client.exists(keys.quota("app-a")) == 0


def test_redis_down_lets_requests_through_with_a_warning(keys, caplog):
    """A quota must never make the platform unavailable."""
    down = redis.Redis(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2,
                       retry=Retry(NoBackoff(), 0), decode_responses=True)
    quota = Quota(down, keys, rate=1, burst=1)
    with caplog.at_level(logging.WARNING, logger="oms.quota"):
        assert [quota.take("app-a") for _ in range(5)] == [None] * 5
    warnings = [r for r in caplog.records if r.name == "oms.quota"]
    assert len(warnings) == 1 and "let through" in warnings[0].getMessage()
    started = time.monotonic()
    quota.check("app-a")  # no new attempt while the breaker is open
    assert time.monotonic() - started < 0.05 < OPEN_FOR


# ---- in the request path ----------------------------------------------------------------------


@pytest.fixture
def limited_app(make_app, base_config, tmp_path):
    config = {**base_config, "product": {"database_url": f"sqlite:///{tmp_path}/q.db"},
              "quota": {"rate_per_second": 0.5, "burst": 2}}
    app = make_app(config)
    app.extensions["oms_db"].create_all()
    app.add_url_rule("/internal/note/ping", "ping", lambda: "pong", methods=["POST"])
    yield app
    app.extensions["oms_db"].engine.dispose()


def test_a_caller_over_its_quota_gets_429_with_retry_after(limited_app):
    client = limited_app.test_client()
    token = token_for(limited_app, app_id="busy-app")
    answers = [client.post("/oms/note/list", headers={"Token": token}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    refused = answers[-1]
    assert refused.get_json()["code"] == 42900
    assert refused.headers["Retry-After"] == "2"  # 0.5 a second: a token in 2 s
    calm = token_for(limited_app, app_id="calm-app")
    assert client.post("/oms/note/list", headers={"Token": calm}).status_code == 200


def test_the_quota_is_checked_after_the_token(limited_app):
    client = limited_app.test_client()
    for _ in range(5):  # no token, a bad token: refused before any bucket is touched
        assert client.post("/oms/note/list").status_code == 401
        assert client.post("/oms/note/list", headers={"Token": "x.y.z"}).status_code == 401
    keys = limited_app.extensions["oms"].keys
    assert limited_app.extensions["oms"].redis.exists(keys.quota("test-app")) == 0


def test_calls_between_services_are_not_counted(limited_app):
    client = limited_app.test_client()
    token = token_for(limited_app, app_id="busy-app")
    assert all(client.post("/internal/note/ping", headers={"Token": token}).status_code == 200
               for _ in range(5))
    service = token_for(limited_app, app_id="service:device")
    assert all(client.post("/oms/note/list", headers={"Token": service}).status_code == 200
               for _ in range(5))
    assert client.post("/oms/note/list", headers={"Token": token}).status_code == 200
