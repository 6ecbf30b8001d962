"""log tables partitioned by day

The property and event logs and the rejected messages get ``received_on``, the UTC day
each row was stored (filled from ``received_at`` for the rows there are), and their
uniqueness includes it: (device, message id[, identifier], day).

On PostgreSQL each table becomes a table partitioned by range of ``received_on``: its
rows are moved into it (ids, and the sequence that hands them out, kept), with a
partition for each day they were stored on, today and the next three days, and a
default partition for any other day. The primary key is (id, received_on) there, as
PostgreSQL wants the partition key in every unique constraint. From then on the ingest
worker makes the partitions ahead and drops the expired ones
(``device_service.logs.maintain``).

On SQLite the tables are rebuilt with the new column and constraint (still
AUTOINCREMENT); they are not partitioned.

Revision ID: 18fda8e63dfd
Revises: 228339792ad4
Create Date: 2026-11-29 20:50:56.535149

"""
from datetime import date, datetime, timedelta, timezone
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '18fda8e63dfd'
down_revision: Union[str, Sequence[str], None] = '228339792ad4'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

AHEAD = 3  # days after today with a partition ready (device_service.logs.AHEAD)
LOG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _columns() -> dict[str, list[sa.Column]]:
    """Each table's columns before this revision (new objects on every call; ``id``
    takes its values from the sequence the table had)."""
    return {
        "property_logs": [
            sa.Column('id', LOG_ID, nullable=False, autoincrement=False),
            sa.Column('device_id', sa.String(length=36), nullable=False),
            sa.Column('tenant', sa.String(length=64), nullable=False),
            sa.Column('identifier', sa.String(length=64), nullable=False),
            sa.Column('value', sa.JSON(), nullable=True),
            sa.Column('time', sa.DateTime(timezone=True), nullable=False),
            sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('message_id', sa.String(length=64), nullable=False),
        ],
        "event_logs": [
            sa.Column('id', LOG_ID, nullable=False, autoincrement=False),
            sa.Column('device_id', sa.String(length=36), nullable=False),
            sa.Column('tenant', sa.String(length=64), nullable=False),
            sa.Column('identifier', sa.String(length=64), nullable=False),
            sa.Column('type', sa.String(length=16), nullable=False),
            sa.Column('params', sa.JSON(), nullable=True),
            sa.Column('time', sa.DateTime(timezone=True), nullable=False),
            sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('message_id', sa.String(length=64), nullable=False),
        ],
        "rejected_messages": [
            sa.Column('id', LOG_ID, nullable=False, autoincrement=False),
            sa.Column('device_id', sa.String(length=36), nullable=False),
            sa.Column('tenant', sa.String(length=64), nullable=False),
            sa.Column('topic', sa.String(length=128), nullable=False),
            sa.Column('message_id', sa.String(length=64), nullable=True),
            sa.Column('code', sa.Integer(), nullable=False),
            sa.Column('reason', sa.Text(), nullable=False),
            sa.Column('payload', sa.Text(), nullable=False),
            sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        ],
    }


#: table: (unique constraint before, after, the columns identifying a row)
UNIQUE = {
    "property_logs": ("uq_property_logs_device_message_identifier",
                      "uq_property_logs_device_message_identifier_day",
                      ["device_id", "message_id", "identifier"]),
    "event_logs": ("uq_event_logs_device_message", "uq_event_logs_device_message_day",
                   ["device_id", "message_id"]),
    "rejected_messages": ("uq_rejected_messages_device_topic_message",
                          "uq_rejected_messages_device_topic_message_day",
                          ["device_id", "topic", "message_id"]),
}
INDEXES = {
    "property_logs": {"ix_property_logs_device_time": ["device_id", "time", "id"],
                      "ix_property_logs_device_identifier_time":
                          ["device_id", "identifier", "time", "id"]},
    "event_logs": {"ix_event_logs_device_time": ["device_id", "time", "id"],
                   "ix_event_logs_device_identifier_time":
                       ["device_id", "identifier", "time", "id"]},
    "rejected_messages": {"ix_rejected_messages_device_received": ["device_id", "received_at"]},
}


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in UNIQUE:
        if postgresql:
            _partition(table)
        else:
            _sqlite_add_day(table)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in UNIQUE:
        if postgresql:
            _unpartition(table)
        else:
            _sqlite_drop_day(table)


# ---- SQLite --------------------------------------------------------------------------------


def _sqlite_add_day(table: str) -> None:
    before, after, key = UNIQUE[table]
    with op.batch_alter_table(table) as batch_op:
        batch_op.add_column(sa.Column('received_on', sa.Date(), nullable=True))
    op.execute(f"UPDATE {table} SET received_on = date(received_at)")
    with op.batch_alter_table(table, recreate="always",
                              table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.alter_column('received_on', existing_type=sa.Date(), nullable=False)
        batch_op.drop_constraint(before, type_='unique')
        batch_op.create_unique_constraint(after, [*key, 'received_on'])


def _sqlite_drop_day(table: str) -> None:
    before, after, key = UNIQUE[table]
    with op.batch_alter_table(table, recreate="always",
                              table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint(after, type_='unique')
        batch_op.create_unique_constraint(before, key)
        batch_op.drop_column('received_on')


# ---- PostgreSQL ----------------------------------------------------------------------------


def _set_aside(table: str, suffix: str, unique: str) -> str:
    """Rename the table out of the way, freeing the names of its constraints and indexes
    (PostgreSQL's index names are per schema); returns its new name."""
    old = f"{table}_{suffix}"
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {table}_pkey TO {old}_pkey")
    op.execute(f"ALTER TABLE {old} DROP CONSTRAINT {unique}")
    for index in INDEXES[table]:
        op.execute(f"DROP INDEX {index}")
    return old


def _move(table: str, old: str, *, partitioned: bool) -> None:
    """Rows from ``old`` into ``table``; the id sequence passes to ``table``; ``old`` goes;
    the indexes are made (after the rows are in: faster). Back to one table, a message
    stored on two days (a copy more than a day late) keeps its first rows."""
    names = ", ".join(c.name for c in _columns()[table])
    if partitioned:
        day = "(received_at AT TIME ZONE 'UTC')::date"
        op.execute(f"INSERT INTO {table} ({names}, received_on)"
                   f" SELECT {names}, {day} FROM {old}")
    else:
        op.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {old} ORDER BY id"
                   " ON CONFLICT DO NOTHING")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
    op.execute(f"DROP TABLE {old}")  # with its partitions, if it had any
    for index, columns in INDEXES[table].items():
        op.create_index(index, table, columns)


def _partition(table: str) -> None:
    before, after, key = UNIQUE[table]
    old = _set_aside(table, "unpartitioned", before)
    op.create_table(
        table, *_columns()[table], sa.Column('received_on', sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint('id', 'received_on', name=f"{table}_pkey"),
        sa.UniqueConstraint(*key, 'received_on', name=after),
        postgresql_partition_by="RANGE (received_on)")
    op.execute(f"ALTER TABLE {table} ALTER COLUMN id"
               f" SET DEFAULT nextval('{table}_id_seq'::regclass)")
    op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    today = datetime.now(timezone.utc).date()
    stored = op.get_bind().execute(sa.text(
        f"SELECT DISTINCT (received_at AT TIME ZONE 'UTC')::date FROM {old}")).scalars()
    for day in sorted({*stored, *(today + timedelta(days=n) for n in range(AHEAD + 1))}):
        _day_partition(table, day)
    _move(table, old, partitioned=True)


def _day_partition(table: str, day: date) -> None:
    op.execute(f"CREATE TABLE {table}_p{day:%Y%m%d} PARTITION OF {table}"
               f" FOR VALUES FROM ('{day.isoformat()}')"
               f" TO ('{(day + timedelta(days=1)).isoformat()}')")


def _unpartition(table: str) -> None:
    before, after, key = UNIQUE[table]
    old = _set_aside(table, "partitioned", after)
    op.create_table(
        table, *_columns()[table],
        sa.PrimaryKeyConstraint('id', name=f"{table}_pkey"),
        sa.UniqueConstraint(*key, name=before))
    op.execute(f"ALTER TABLE {table} ALTER COLUMN id"
               f" SET DEFAULT nextval('{table}_id_seq'::regclass)")
    _move(table, old, partitioned=False)
