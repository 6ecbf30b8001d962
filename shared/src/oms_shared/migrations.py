"""Schema migrations: Alembic, one history per service.

Each service keeps its revisions in its own package (``product_service/migrations``)
and its own version table (``alembic_version_product``), so services sharing one
database never see each other's history. The environment (``env.py``) and the
revision template live here once.

``flask --app <svc>_service.app init-db`` upgrades to the latest revision;
``flask --app <svc>_service.app db-revision -m "..."`` writes a new revision from
the difference between the models and the database.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection, Engine

__all__ = ["revision", "upgrade"]

ENVIRONMENT = Path(__file__).with_name("alembic")


def _config(connection: Connection, metadata: MetaData, service: str, package: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ENVIRONMENT))
    config.set_main_option("version_locations", str(resources.files(package) / "migrations"))
    config.set_main_option("path_separator", "os")
    config.attributes.update(connection=connection, metadata=metadata,
                             version_table=f"alembic_version_{service}")
    return config


def upgrade(engine: Engine, metadata: MetaData, *, service: str, package: str) -> None:
    """Bring the service's tables to the latest revision; replicas may run it together
    (serialised on PostgreSQL by an advisory lock)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
                               {"name": f"oms-migrate-{service}"})
        command.upgrade(_config(connection, metadata, service, package), "head")


def revision(engine: Engine, metadata: MetaData, *, service: str, package: str,
             message: str) -> None:
    """Write a new revision with what the models have and the database lacks."""
    with engine.begin() as connection:
        command.revision(_config(connection, metadata, service, package), message=message,
                         autogenerate=True)
