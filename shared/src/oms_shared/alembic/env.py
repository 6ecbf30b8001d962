"""The one Alembic environment every service's migrations run in.

:mod:`oms_shared._migrations` hands it the connection, the service's metadata and
its version table through ``config.attributes``.
"""

from alembic import context

from oms_shared._migrations import partitions_left_out, render_item

attributes = context.config.attributes
context.configure(
    connection=attributes["connection"],
    include_name=partitions_left_out(attributes["connection"]),
    target_metadata=attributes["metadata"],
    version_table=attributes["version_table"],
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
    render_item=render_item,  # encrypted columns as the strings they are stored in
)
with context.begin_transaction():
    context.run_migrations()
