"""batch ids are never reused

On SQLite a table without AUTOINCREMENT hands the highest id out again once that
row is deleted; a download, a log line or a client holding the old id would then
reach a new batch. PostgreSQL's sequences never reuse an id: nothing to do there.

Revision ID: 7c1f0b9e2d41
Revises: 58faee284715
Create Date: 2026-11-29 18:30:00.000000

"""
from typing import Sequence, Union

from alembic import op


revision: str = '7c1f0b9e2d41'
down_revision: Union[str, Sequence[str], None] = '58faee284715'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("batches", recreate="always",
                              table_kwargs={"sqlite_autoincrement": True}):
        pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("batches", recreate="always",
                              table_kwargs={"sqlite_autoincrement": False}):
        pass
