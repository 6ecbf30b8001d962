"""A PostgreSQL database for each service that has one, as production has them: for the
end-to-end tests and benchmarks that run the platform on PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg

from oms_shared import SERVICES, ServiceSpec

__all__ = ["service_databases"]


@contextmanager
def service_databases(admin_url: str, label: str,
                      services: Sequence[ServiceSpec] = SERVICES) -> Iterator[dict[str, str]]:
    """Create ``oms_<label>_<run>_<service>`` for each service with a database; yield the
    settings naming them (``OMS_<SERVICE>__DATABASE_URL``); drop them afterwards."""
    run = secrets.token_hex(4)
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    names = {spec.name: f"oms_{label}_{run}_{spec.name}" for spec in services if spec.database}
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {f"OMS_{service.upper()}__DATABASE_URL": f"{base}/{name}"
               for service, name in names.items()}
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for name in names.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
