"""Queries over apps. Functions flush; the caller's boundary commits."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth_service.models import App
from oms_shared import TENANT, NotFound


def new_secret() -> str:
    return secrets.token_hex(16)


def get(*, session: Session, app_id: str) -> App | None:
    return session.get(App, app_id)


def get_for_update(*, session: Session, app_id: str) -> App | None:
    """The app, its row locked until the transaction ends (PostgreSQL; SQLite's
    transactions are serialised anyway): a revocation in flight finishes first."""
    return session.scalar(select(App).where(App.app_id == app_id).with_for_update()
                          .execution_options(populate_existing=True))


def get_or_raise(*, session: Session, app_id: str) -> App:
    app = get(session=session, app_id=app_id)
    if app is None:
        raise NotFound("app", app_id)
    return app


def get_all(*, session: Session) -> list[App]:
    return list(session.scalars(select(App).order_by(App.created_at, App.app_id)))


def get_default(*, session: Session) -> App | None:
    return session.scalar(select(App).where(App.is_default.is_(True)))


def create(*, session: Session, tenant: str, name: str = "", is_default: bool = False,
           scope: str = TENANT) -> App:
    app = App(app_id="oms" + secrets.token_hex(8), secret=new_secret(), tenant=tenant,
              name=name, is_default=is_default, scope=scope, enabled=True, token_generation=1)
    session.add(app)
    session.flush()
    return app


def update(*, session: Session, app: App, **changes: object) -> App:
    for key, value in changes.items():
        setattr(app, key, value)
    session.flush()
    return app
