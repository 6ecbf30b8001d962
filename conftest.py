"""Fixtures every package's tests share: real Redis, real PostgreSQL and SQLite.

Each test session gets its own Redis key prefix and its own PostgreSQL
database (dropped at the end); data-layer fixtures are parametrised over
``sqlite`` and ``postgresql``. Without PostgreSQL the PostgreSQL variants are
skipped on a developer machine and fail under CI (``CI=true``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import redis

REDIS_URL = os.environ.get("OMS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_ADMIN_URL = os.environ.get("OMS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
JWT_SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="session")
def redis_prefix() -> Iterator[str]:
    prefix = f"omstest-{secrets.token_hex(4)}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL, decode_responses=True)


@contextmanager
def _postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for as long as the block lasts."""
    name = f"oms_test_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI: {exc}")
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One database for the session; tests keep it clean with rolled-back transactions."""
    with _postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A database nobody else has touched (for tests that build a schema themselves)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with _postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture
def base_config(redis_prefix: str, tmp_path: Any) -> dict[str, Any]:
    """Settings for a service app under test (what ``create_app(config)`` takes)."""
    return {
        "environment": "test",
        "data_dir": str(tmp_path),
        "log_level": "WARNING",
        "jwt": {"secret": JWT_SECRET},
        "redis": {"url": REDIS_URL, "prefix": f"{redis_prefix}:{secrets.token_hex(4)}"},
    }
