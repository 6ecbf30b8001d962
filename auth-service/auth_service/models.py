from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, MetaData, String
from sqlalchemy.orm import Mapped, mapped_column

from oms_shared import Base, utcnow


class AuthBase(Base):
    __abstract__ = True
    metadata = MetaData()


class App(AuthBase):
    """A client application: it signs token requests with its secret.

    The secret is kept as given (the MD5 signing scheme of the interface
    document needs it to recompute the signature); it never leaves the
    service except through the command-line tool that created it.

    ``scope`` is what its tokens may call: ``tenant`` (its tenant's data) or
    ``operator`` (that, and the platform's own endpoints, ``/pms/system``). It is
    written into every token the app gets and checked by every service.
    """

    __tablename__ = "apps"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    is_default: Mapped[bool] = mapped_column(default=False)
    scope: Mapped[str] = mapped_column(String(16), default="tenant", server_default="tenant")
    token_generation: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)

    def __repr__(self) -> str:  # never the secret
        return (f"App(app_id={self.app_id!r}, tenant={self.tenant!r}, scope={self.scope!r}, "
                f"enabled={self.enabled})")
