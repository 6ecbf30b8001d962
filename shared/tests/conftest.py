"""A small service built on the library alone, to test the library through HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import MetaData, String, select
from sqlalchemy.orm import Mapped, mapped_column

from oms_shared import OMS, Api, Base, Database, Page, PageQuery, Schema, current_tenant
from oms_shared._database import get_or_404
from oms_shared._errors import InvalidState
from oms_shared._pagination import paginate
from oms_shared.testing import app_in_transaction, token_for


class NoteBase(Base):
    __abstract__ = True
    metadata = MetaData()


class Note(NoteBase):
    __tablename__ = "lib_test_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(String(200))


class Spec(Schema):
    min: float | None = None
    max: float | None = None


class Item(Schema):
    identifier: str = Field(pattern=r"^[A-Za-z0-9_]{1,64}$")
    specs: Spec | None = None


class NoteCreate(Schema):
    text: str = Field(min_length=1, max_length=200)
    items: list[Item] = []
    fail: bool = False


class NoteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    text: str


db = Database()
api = Api("notes", __name__)


@api.post("/oms/note/add", body=NoteCreate, returns=NoteRead)
def add(body: NoteCreate) -> Note:
    note = Note(tenant=current_tenant(), text=body.text)
    db.session.add(note)
    db.session.flush()
    if body.fail:
        raise InvalidState("asked to fail after writing")
    return note


@api.post("/oms/note/detail/<note_id>", returns=NoteRead)
def detail(body: object, note_id: str) -> Note:
    ident = int(note_id) if note_id.isdigit() else None
    return get_or_404(db.session, Note, ident, tenant=current_tenant(), resource="note")


@api.post("/oms/note/list", body=PageQuery, returns=Page[NoteRead])
def list_notes(body: PageQuery) -> dict[str, Any]:
    stmt = select(Note).where(Note.tenant == current_tenant()).order_by(Note.id)
    rows, total = paginate(db.session, stmt, body)
    return {"list": rows, "total": total, "page": body.page, "page_size": body.page_size}


@api.post("/oms/note/crash")
def crash(body: object) -> None:
    raise RuntimeError("secret-internal-detail")


def create_app(config: dict[str, Any]) -> Flask:
    app = Flask(__name__)
    OMS().init_app(app, service="product", config=config)
    db.init_app(app, NoteBase.metadata)
    app.register_blueprint(api.blueprint)
    return app


@pytest.fixture
def make_app():
    """The test service's factory, for tests that need their own settings."""
    return create_app


@pytest.fixture
def app(base_config: dict[str, Any], database_url: str) -> Flask:
    config = {**base_config, "product": {"database_url": database_url}}
    with app_in_transaction(create_app, config) as app:
        yield app


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def headers(app: Flask) -> dict[str, str]:
    return {"Token": token_for(app, app_id="lib-app", tenant="t1")}
