from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Identity,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from oms_shared import Base, EncryptedString, utcnow

FIRST_PRODUCT_ID = 10000


class ProductBase(Base):
    __abstract__ = True
    metadata = MetaData()


class Product(ProductBase):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("tenant", "code", name="uq_products_tenant_code"),
        UniqueConstraint("product_key", name="uq_products_product_key"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, Identity(start=FIRST_PRODUCT_ID), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))
    product_key: Mapped[str] = mapped_column(String(64))
    #: sealed at rest (AES-GCM under secrets.keys); loaded (and opened) only when read:
    #: lists never show it
    product_secret: Mapped[str] = mapped_column(EncryptedString(128), deferred=True)
    status: Mapped[str] = mapped_column(String(16), default="enable")
    thing_model: Mapped[dict[str, Any]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)  # one more on every change
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)

    def __repr__(self) -> str:  # never the secret
        return f"Product(id={self.id!r}, code={self.code!r}, tenant={self.tenant!r})"


@event.listens_for(Product.__table__, "after_create")
def _start_ids_at_10000(table, connection, **_kw) -> None:
    """SQLite ignores IDENTITY: seed its AUTOINCREMENT counter instead."""
    if connection.dialect.name == "sqlite":
        connection.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:n, :s)"),
                           {"n": table.name, "s": FIRST_PRODUCT_ID - 1})
