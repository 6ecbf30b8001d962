"""secrets sealed at rest

``products.product_secret`` holds ``v1:<key id>:<nonce + AES-GCM ciphertext, base64>``
(``oms_shared.EncryptedString``): the column is widened to the sealed form's length and
every plaintext secret already stored is sealed here, in this revision's transaction,
under the current key of ``secrets.keys``. The downgrade opens them again.

Revision ID: 578c11f2187e
Revises: 56a63e207b93
Create Date: 2026-11-29 21:44:31.500739

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from oms_shared import rotate_secrets, unseal_secrets


# revision identifiers, used by Alembic.
revision: str = '578c11f2187e'
down_revision: Union[str, Sequence[str], None] = '56a63e207b93'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _products(length: int) -> sa.Table:
    return sa.Table("products", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("product_secret", sa.String(length)))


def _widen(old: sa.types.TypeEngine, new: sa.types.TypeEngine) -> None:
    """On SQLite the table is rebuilt (batch mode): keep its AUTOINCREMENT and its place
    in ``sqlite_sequence`` (ids from 10000, never reused), which a rebuild would lose."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    seq = bind.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'products'")
                       ).scalar() if sqlite else None
    options = {"table_kwargs": {"sqlite_autoincrement": True}} if sqlite else {}
    with op.batch_alter_table('products', schema=None, **options) as batch_op:
        batch_op.alter_column('product_secret', existing_type=old, type_=new,
                              existing_nullable=False)
    if sqlite:
        top = bind.execute(sa.text("SELECT max(id) FROM products")).scalar()
        bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'products'"))
        bind.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('products', :s)"),
                     {"s": max(seq or 9999, top or 0)})


def upgrade() -> None:
    """Upgrade schema."""
    _widen(sa.VARCHAR(length=128), sa.String(length=244))
    products = _products(244)
    rotate_secrets(op.get_bind(), products, products.c.product_secret, commit=False)


def downgrade() -> None:
    """Downgrade schema."""
    products = _products(244)
    unseal_secrets(op.get_bind(), products, products.c.product_secret, commit=False)
    _widen(sa.String(length=244), sa.VARCHAR(length=128))
