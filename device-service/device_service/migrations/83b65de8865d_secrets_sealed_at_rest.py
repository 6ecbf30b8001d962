"""secrets sealed at rest

``devices.device_secret`` holds ``v1:<key id>:<nonce + AES-GCM ciphertext, base64>``
(``oms_shared.EncryptedString``): the column is widened to the sealed form's length and
every plaintext secret already stored is sealed here, in this revision's transaction,
under the current key of ``secrets.keys`` (the keyring the service's engine carries).
So after the upgrade no row holds a secret in the clear; ``secrets-rotate`` would seal
any left as well. The downgrade opens them again.

Revision ID: 83b65de8865d
Revises: 18fda8e63dfd
Create Date: 2026-11-29 21:44:26.503378

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

from oms_shared import rotate_secrets, unseal_secrets


# revision identifiers, used by Alembic.
revision: str = '83b65de8865d'
down_revision: Union[str, Sequence[str], None] = '18fda8e63dfd'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _devices(length: int) -> sa.Table:
    return sa.Table("devices", sa.MetaData(), sa.Column("id", sa.String(36), primary_key=True),
                    sa.Column("device_secret", sa.String(length)))


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.alter_column('device_secret',
               existing_type=sa.VARCHAR(length=64),
               type_=sa.String(length=160),
               existing_nullable=False)
    devices = _devices(160)
    rotate_secrets(op.get_bind(), devices, devices.c.device_secret, chunk=5000, commit=False)


def downgrade() -> None:
    """Downgrade schema."""
    devices = _devices(160)
    unseal_secrets(op.get_bind(), devices, devices.c.device_secret, chunk=5000, commit=False)
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.alter_column('device_secret',
               existing_type=sa.String(length=160),
               type_=sa.VARCHAR(length=64),
               existing_nullable=False)
