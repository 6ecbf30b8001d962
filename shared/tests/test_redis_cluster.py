"""The library's Redis code on a Redis Cluster (three nodes started here), and the key
layout that makes it work: what one command combines shares a hash slot."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import RedisClusterException

from oms_shared import (
    Claims,
    Consumer,
    DevicesRemoved,
    InvalidState,
    Keys,
    ProductCatalog,
    ProductGuard,
    ProductSnapshot,
    Registry,
    RevocationStore,
    TokenInvalid,
    load_settings,
    parked,
    publish_now,
)
from oms_shared._redis_client import connect
from oms_shared._revocation import GenerationWatcher

JWT_SECRET = "cluster-secret-" + "x" * 40
KEYS = Keys("omscluster")


def _slot(key: str) -> int:
    return key_slot(key.encode())


def test_what_one_command_combines_shares_a_slot():
    """Plain Redis is enough to check the layout a cluster needs."""
    for product_id in (1, 10000, 2**31 - 1):
        assert (_slot(KEYS.product(product_id)) == _slot(KEYS.producing(product_id))
                == _slot(KEYS.removing(product_id)))  # ProductGuard's transactions
    assert _slot(KEYS.stream("devices.removed")) == _slot(KEYS.parked("devices.removed"))
    assert len({_slot(KEYS.producing(n)) for n in range(100)}) > 50  # products spread out
    assert KEYS.product(7) == "omscluster:catalog:{p:7}:snapshot"
    with pytest.raises(ValueError, match="braces"):
        Keys("oms{x}")


def test_a_prefix_with_braces_is_refused_at_start_up():
    from flask import Flask

    from oms_shared import OMS, SettingsError

    plain = connect(load_settings({"jwt": {"secret": JWT_SECRET}}))
    assert isinstance(plain, redis.Redis)  # redis.cluster is false by default
    plain.close()
    with pytest.raises(SettingsError, match=r"redis\.prefix"):
        OMS().init_app(Flask(__name__), service="product",
                       config={"jwt": {"secret": JWT_SECRET}, "redis": {"prefix": "a{b}"}})


def test_a_cluster_out_of_reach_is_an_outage_not_a_crash():
    """A cluster client raises RedisClusterException (not a RedisError) when no node
    answers: requests get 503/50300 and the watcher keeps trying."""
    from oms_shared._envelope import error_for

    down = RedisClusterException("Redis Cluster cannot be connected")
    assert error_for(down).code == 50300

    class Unreachable:
        def pubsub(self) -> Unreachable:
            return self

        def subscribe(self, *channels: str) -> None:
            raise down

        def close(self) -> None:
            pass

    watcher = GenerationWatcher(RevocationStore(Unreachable(), KEYS),  # type: ignore[arg-type]
                                retry_after=0.01)
    watcher.start()
    time.sleep(0.1)
    assert watcher.is_alive() and not watcher.subscribed
    watcher.stop()
    watcher.join(3)


# -- on a real cluster -------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def cluster_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Three primaries on free ports (bus ports chosen too), in this module's folder."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server and redis-cli are needed")
    folder: Path = tmp_path_factory.mktemp("redis-cluster")
    ports = [_free_port() for _ in range(3)]
    bus_ports = [_free_port() for _ in range(3)]
    processes = []
    try:
        for port, bus_port in zip(ports, bus_ports, strict=True):
            node = folder / str(port)
            node.mkdir()
            processes.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-port", str(bus_port), "--dir", str(node),
                 "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        nodes = [redis.Redis(port=port, decode_responses=True) for port in ports]
        assert all(_until(node.ping) for node in nodes)
        # What `redis-cli --cluster create` does, without its one-second waits: a third
        # of the slots and its own config epoch each, then every node meets the first.
        bounds = [0, 5461, 10923, 16384]
        for index, node in enumerate(nodes):
            node.execute_command("CLUSTER", "ADDSLOTSRANGE", bounds[index], bounds[index + 1] - 1)
            node.execute_command("CLUSTER", "SET-CONFIG-EPOCH", index + 1)
        for port, bus_port in zip(ports[1:], bus_ports[1:], strict=True):
            nodes[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port, bus_port)
        assert all(_until(lambda n=node: n.cluster("info")["cluster_state"] == "ok")
                   for node in nodes)
        for node in nodes:
            node.close()
        yield ports
    finally:
        for process in processes:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def client(cluster_ports: list[int]) -> Iterator[RedisCluster]:
    settings = load_settings({"jwt": {"secret": JWT_SECRET}, "redis": {
        "url": f"redis://127.0.0.1:{cluster_ports[0]}/0", "cluster": True,
        "prefix": KEYS.prefix}})
    made = connect(settings)
    assert isinstance(made, RedisCluster)
    yield made
    made.close()


def _spread(client: RedisCluster, make_key: Callable[[int], str], count: int = 3) -> list[int]:
    """``count`` arguments whose keys land on ``count`` different nodes."""
    chosen: dict[str, int] = {}
    for n in range(1, 1000):
        chosen.setdefault(client.get_node_from_key(make_key(n)).name, n)
        if len(chosen) == count:
            return list(chosen.values())
    raise AssertionError("keys do not spread over the nodes")


def test_revocations_are_published_checked_and_heard_on_a_cluster(client):
    store = RevocationStore(client, KEYS)
    watcher = GenerationWatcher(store, retry_after=0.1)
    watcher.start()
    try:
        assert _until(lambda: watcher.subscribed, 5)
        for n in _spread(client, lambda n: KEYS.generation(f"app-{n}")):
            app_id = f"app-{n}"
            store.publish_generation(app_id, 1, only_if_missing=True)
            assert store.generation(app_id) == 1
            claims = Claims(app_id=app_id, tenant="t1", jti="j", gen=1, iat=0, exp=1)
            store.check(claims)
            store.publish_generation(app_id, 2)  # SET and PUBLISH, one script
            assert _until(lambda a=app_id: watcher.get(a) == 2, 5)  # the announcement
            with pytest.raises(TokenInvalid):
                store.check(claims, watcher)
    finally:
        watcher.stop()
        watcher.join(3)
    assert not watcher.is_alive()


def _snapshot(product_id: int, revision: int = 1) -> ProductSnapshot:
    return ProductSnapshot(id=product_id, revision=revision, tenant="t1", name="n",
                           product_key="pk", status="enable", thing_model={})


def test_the_catalog_and_the_guard_work_on_a_cluster(client):
    catalog = ProductCatalog(client, KEYS)
    guard = ProductGuard(client, KEYS)
    for product_id in _spread(client, KEYS.product):
        catalog.put_if_absent(_snapshot(product_id))
        assert catalog.put(_snapshot(product_id, revision=2))
        assert not catalog.put(_snapshot(product_id, revision=1))  # never an older one
        cached = catalog.get(product_id)
        assert isinstance(cached, ProductSnapshot) and cached.revision == 2
        catalog.forget(product_id)
        assert catalog.get(product_id) == "gone"

        guard.start_producing(product_id)  # a submit first: the removal is refused
        with pytest.raises(InvalidState, match="being produced"):
            guard.start_removing(product_id)
        guard.stop_producing(product_id)
        guard.start_removing(product_id)  # a removal first: the submit is refused
        with pytest.raises(InvalidState, match="being removed"):
            guard.start_producing(product_id)
        guard.stop_removing(product_id)
        assert client.get(KEYS.producing(product_id)) is None  # released: gone at zero
        assert client.get(KEYS.removing(product_id)) is None


def test_the_registry_and_the_token_cache_work_on_a_cluster(client):
    registry = Registry(client, KEYS)
    services = ["auth", "device", "product", "user", "group", "system"]
    assert len({client.get_node_from_key(KEYS.registry(s)).name for s in services}) > 1
    for service in services:
        registry.beat(service, "10.0.0.1:8000", "1.0", time.time())
        assert registry.instances(service, down_after=60)[0]["status"] == "up"
        registry.mark_stopped(service, "10.0.0.1:8000")
        assert registry.instances(service, down_after=60)[0]["status"] == "down"

    key = KEYS.issued_token("app-1", 3, "1700000000", "0" * 32)
    assert client.set(key, '{"token": "t"}', nx=True, ex=60)
    assert not client.set(key, '{"token": "other"}', nx=True, ex=60)  # the first one stays
    assert client.get(key) == '{"token": "t"}'


def test_the_quota_works_on_a_cluster(client):
    """One key per app's bucket, on whichever node holds it; the script runs there."""
    from oms_shared._quota import Quota

    quota = Quota(client, KEYS, rate=1, burst=2)
    apps = [f"app-{n}" for n in range(8)]
    assert len({client.get_node_from_key(KEYS.quota(a)).name for a in apps}) > 1
    for app_id in apps:
        assert [quota.take(app_id) for _ in range(2)] == [None, None]
        assert 0 < quota.take(app_id) <= 1


def test_events_flow_and_a_poison_entry_is_parked_on_a_cluster(client):
    def handler(event: DevicesRemoved) -> None:
        if event.device_ids == ["bad"]:
            raise KeyError("poison")
        seen.append(event.device_ids[0])

    seen: list[str] = []
    removed = [DevicesRemoved(tenant="t1", product_id=7, device_ids=[d])
               for d in ("d1", "bad", "d2")]
    [_, poison_id, _] = publish_now(client, KEYS, *removed)
    consumer = Consumer(client, KEYS, DevicesRemoved, "svc", handler, max_tries=1,
                        reclaim_idle_ms=1)
    assert consumer.poll() == 2  # d1 and d2 acknowledged, the poison left pending
    time.sleep(0.01)
    assert consumer.poll() == 1  # reclaimed, over its tries: parked (one transaction)
    assert seen == ["d1", "d2"]
    [(_id, record)] = parked(client, KEYS, DevicesRemoved.stream)
    assert record["original_id"] == poison_id
    assert client.xpending(KEYS.stream(DevicesRemoved.stream), "svc")["pending"] == 0
