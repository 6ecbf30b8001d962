"""Events between services, on the real Redis: published after the commit, read by groups."""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable

import pydantic
import pytest
import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from oms_shared import Keys
from oms_shared._events import (
    Consumer,
    DevicesRemoved,
    decode,
    parked,
    publish,
    publish_now,
)

NAME = DevicesRemoved.stream


@pytest.fixture
def keys(redis_prefix: str) -> Keys:
    return Keys(f"{redis_prefix}:{secrets.token_hex(4)}")


def removed(*ids: str, tenant: str = "t1") -> DevicesRemoved:
    return DevicesRemoved(tenant=tenant, product_id=7, device_ids=list(ids))


def until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def pending(client: redis.Redis, keys: Keys, group: str) -> int:
    return client.xpending(keys.stream(NAME), group)["pending"]


def test_keys_share_a_hash_tag_and_entries_carry_type_version_and_json(redis_client, keys):
    assert Keys("oms").stream(NAME) == "oms:events:{devices.removed}"
    assert Keys("oms").parked(NAME) == "oms:events:{devices.removed}:parked"
    assert key_slot(Keys("a").stream(NAME).encode()) == key_slot(Keys("b").parked(NAME).encode())
    with pytest.raises(ValueError, match="braces"):
        Keys("o{m}s")
    with pytest.raises(ValueError, match="stream name"):
        Keys("oms").stream("Devices")

    [entry_id] = publish_now(redis_client, keys, removed("d1", "d2"))
    [(read_id, fields)] = redis_client.xrange(keys.stream(NAME))
    assert read_id == entry_id
    assert fields["type"] == "DevicesRemoved" and fields["v"] == "1"
    assert decode(NAME, fields) == removed("d1", "d2")


def test_publish_announces_only_what_commits(redis_client, keys, tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'events.db'}")
    key = keys.stream(NAME)
    try:
        with Session(engine) as session:
            session.execute(text("CREATE TABLE removed (id TEXT)"))
            session.commit()

            session.execute(text("INSERT INTO removed VALUES ('d1')"))
            publish(session, redis_client, keys, removed("d1"))
            session.rollback()
            assert redis_client.xlen(key) == 0

            session.execute(text("INSERT INTO removed VALUES ('d2')"))
            publish(session, redis_client, keys, removed("d2"), removed("d3", tenant="t2"))
            assert redis_client.xlen(key) == 0  # not before the commit either
            session.commit()
    finally:
        engine.dispose()
    events = [decode(NAME, fields) for _id, fields in redis_client.xrange(key)]
    assert events == [removed("d2"), removed("d3", tenant="t2")]
    assert all(isinstance(event, DevicesRemoved) for event in events)


def test_batched_splits_long_lists_in_order():
    ids = [f"dev-{n}" for n in range(2500)]
    events = DevicesRemoved.batched(tenant="t1", product_id=3, device_ids=ids)
    assert [len(e.device_ids) for e in events] == [1000, 1000, 500]
    assert [i for e in events for i in e.device_ids] == ids
    assert {(e.tenant, e.product_id) for e in events} == {("t1", 3)}
    assert DevicesRemoved.batched(tenant="t1", product_id=3, device_ids=[]) == []
    with pytest.raises(pydantic.ValidationError):
        DevicesRemoved(tenant="t1", product_id=3, device_ids=ids[:1001])
    with pytest.raises(pydantic.ValidationError):
        DevicesRemoved(tenant="t1", product_id=3, device_ids=["d"], extra="no")


def test_a_group_created_after_publishing_gets_everything(redis_client, keys):
    publish_now(redis_client, keys, removed("d1"), removed("d2"), removed("d3"))
    seen: list[DevicesRemoved] = []
    consumer = Consumer(redis_client, keys, DevicesRemoved, "svc", seen.append)
    assert consumer.poll() == 3
    assert [e.device_ids for e in seen] == [["d1"], ["d2"], ["d3"]]
    assert pending(redis_client, keys, "svc") == 0
    assert consumer.poll() == 0


def test_consumers_of_one_group_share_the_work_and_each_group_gets_all(redis_client, keys):
    publish_now(redis_client, keys, *(removed(f"d{n}") for n in range(10)))
    got: dict[str, list[str]] = {"a": [], "b": [], "other": []}

    def consumer(group: str, name: str) -> Consumer[DevicesRemoved]:
        return Consumer(redis_client, keys, DevicesRemoved, group,
                        lambda e: got[name].extend(e.device_ids), consumer=name, batch=3)

    a, b = consumer("svc", "a"), consumer("svc", "b")
    while a.poll() + b.poll():
        pass
    other = consumer("other-svc", "other")
    assert other.poll() + other.poll() + other.poll() + other.poll() == 10

    assert got["a"] and got["b"]
    assert sorted(got["a"] + got["b"]) == sorted(f"d{n}" for n in range(10))
    assert sorted(got["other"]) == sorted(f"d{n}" for n in range(10))
    assert pending(redis_client, keys, "svc") == pending(redis_client, keys, "other-svc") == 0


def test_a_failing_handler_is_retried_then_acked(redis_client, keys, caplog):
    publish_now(redis_client, keys, removed("d1", tenant="secret-tenant"), removed("d2"))
    calls: list[str] = []

    def handler(event: DevicesRemoved) -> None:
        calls.append(event.device_ids[0])
        if event.device_ids == ["d1"] and calls.count("d1") < 3:
            raise RuntimeError(f"cannot reach {event.tenant}")

    consumer = Consumer(redis_client, keys, DevicesRemoved, "svc", handler,
                        reclaim_idle_ms=50, max_tries=5)
    with caplog.at_level(logging.WARNING, logger="oms.events"):
        assert consumer.poll() == 1  # d2 acked, d1 left pending
        assert pending(redis_client, keys, "svc") == 1
        assert until(lambda: consumer.poll() == 1 and calls.count("d1") == 3)
    assert calls == ["d1", "d2", "d1", "d1"]
    assert pending(redis_client, keys, "svc") == 0
    assert parked(redis_client, keys, NAME) == []
    assert "RuntimeError" in caplog.text and "secret-tenant" not in caplog.text


def test_a_dead_consumers_entries_are_reclaimed(redis_client, keys):
    publish_now(redis_client, keys, removed("d1"), removed("d2"))
    Consumer(redis_client, keys, DevicesRemoved, "svc", print).ensure_group()
    redis_client.xreadgroup("svc", "a", {keys.stream(NAME): ">"})  # then "a" dies
    seen: list[str] = []

    patient = Consumer(redis_client, keys, DevicesRemoved, "svc",
                       lambda e: seen.extend(e.device_ids), consumer="b", reclaim_idle_ms=60_000)
    assert patient.poll() == 0  # not idle long enough yet
    eager = Consumer(redis_client, keys, DevicesRemoved, "svc",
                     lambda e: seen.extend(e.device_ids), consumer="b", reclaim_idle_ms=50)
    assert until(lambda: eager.poll() > 0 and len(seen) == 2)
    assert seen == ["d1", "d2"]
    assert pending(redis_client, keys, "svc") == 0


def test_a_poison_entry_is_parked_and_the_rest_still_flow(redis_client, keys):
    [poison_id, *_] = publish_now(redis_client, keys, removed("bad"), removed("d2"))
    seen: list[str] = []
    tries: list[str] = []

    def handler(event: DevicesRemoved) -> None:
        if event.device_ids == ["bad"]:
            tries.append("bad")
            raise KeyError("bad")
        seen.extend(event.device_ids)

    consumer = Consumer(redis_client, keys, DevicesRemoved, "svc", handler,
                        max_tries=2, reclaim_idle_ms=50)
    consumer.poll()
    publish_now(redis_client, keys, removed("d3"))
    assert until(lambda: consumer.poll() >= 0 and len(parked(redis_client, keys, NAME)) == 1)
    consumer.poll()

    assert tries == ["bad", "bad"]
    assert seen == ["d2", "d3"]
    [(_id, record)] = parked(redis_client, keys, NAME)
    assert record["original_id"] == poison_id
    assert record["error"] == "gave up after 2 tries (last error: KeyError)"
    assert record["consumer"] == consumer.consumer
    assert decode(NAME, record) == removed("bad")
    assert pending(redis_client, keys, "svc") == 0


def test_an_undecodable_entry_is_parked_at_once(redis_client, keys):
    key = keys.stream(NAME)
    redis_client.xadd(key, {"type": "DevicesRemoved", "v": "1", "data": "{not json"})
    redis_client.xadd(key, {"something": "else"})
    future = {"type": "DevicesRemoved", "v": "2", "data": removed("x").model_dump_json()}
    redis_client.xadd(key, future)
    publish_now(redis_client, keys, removed("d1"))
    seen: list[DevicesRemoved] = []
    consumer = Consumer(redis_client, keys, DevicesRemoved, "svc", seen.append)

    assert consumer.poll() == 4
    assert seen == [removed("d1")]
    records = [record for _id, record in parked(redis_client, keys, NAME)]
    assert [r["error"] for r in records] == ["undecodable (ValidationError)"] + [
        "undecodable (ValueError)"] * 2
    assert records[1]["something"] == "else"
    assert pending(redis_client, keys, "svc") == 0


def test_run_delivers_until_stopped_and_recreates_a_deleted_stream(redis_client, keys):
    seen: list[str] = []
    consumer = Consumer(redis_client, keys, DevicesRemoved, "svc",
                        lambda e: seen.extend(e.device_ids))
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), kwargs={"block_ms": 100})
    thread.start()
    try:
        publish_now(redis_client, keys, removed("d1"))
        assert until(lambda: seen == ["d1"])
        redis_client.delete(keys.stream(NAME))  # NOGROUP from now on
        assert until(lambda: redis_client.exists(keys.stream(NAME)) == 1)
        publish_now(redis_client, keys, removed("d2"))
        assert until(lambda: seen == ["d1", "d2"])
    finally:
        started = time.monotonic()
        stop.set()
        thread.join(timeout=2)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1


def test_run_survives_an_unreachable_redis(keys, caplog):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = redis.Redis(port=port, socket_connect_timeout=0.2, decode_responses=True,
                         retry=Retry(NoBackoff(), 0))  # fail fast rather than retry 10 times
    consumer = Consumer(client, keys, DevicesRemoved, "svc", print)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), kwargs={"block_ms": 100})
    with caplog.at_level(logging.WARNING, logger="oms.events"):
        thread.start()
        try:
            assert until(lambda: caplog.text.count("ConnectionError") >= 2)
            assert thread.is_alive()
        finally:
            stop.set()
            thread.join(timeout=2)
    assert not thread.is_alive()
    client.close()
