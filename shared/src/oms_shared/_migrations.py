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

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection, Engine

__all__ = ["partitions_left_out", "render_item", "revision", "upgrade"]

ENVIRONMENT = Path(__file__).with_name("alembic")


def partitions_left_out(connection: Connection) -> Callable[[str | None, str, Any], bool]:
    """Alembic's ``include_name`` for ``connection``: every table but PostgreSQL's
    partitions. A partitioned table's partitions come and go at run time (the device
    logs' days); the models describe the partitioned table only."""
    partitions: set[str] = set()
    if connection.dialect.name == "postgresql":
        partitions = set(connection.scalars(text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relispartition AND n.nspname = current_schema()")))

    def include_name(name: str | None, type_: str, _parents: Any) -> bool:
        return not (type_ == "table" and name in partitions)

    return include_name


def render_item(type_: str, obj: Any, _context: Any) -> str | bool:
    """Alembic's ``render_item``: a column of an encrypted type (``EncryptedString``) is
    written into a revision as the string column it is stored in, so revisions name no
    type of the library (and a data step seals what the column holds: see the device
    service's revision ``83b65de8865d``)."""
    from oms_shared._secrets import EncryptedString

    if type_ == "type" and isinstance(obj, EncryptedString):
        return f"sa.String(length={obj.impl.length})"
    return False


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
    (serialised on PostgreSQL by an advisory lock).

    On SQLite, foreign keys are off while the revisions run (the SQLite and Alembic
    recipe for rebuilding a table: dropping the old copy of a parent table would
    otherwise cascade into its children) and checked before the commit.
    """
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # outside any transaction, where SQLite honours it
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"),
                                       {"name": f"oms-migrate-{service}"})
                command.upgrade(_config(connection, metadata, service, package), "head")
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError(f"{service}: a migration broke a foreign key")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def revision(engine: Engine, metadata: MetaData, *, service: str, package: str,
             message: str) -> None:
    """Write a new revision with what the models have and the database lacks."""
    with engine.begin() as connection:
        command.revision(_config(connection, metadata, service, package), message=message,
                         autogenerate=True)
