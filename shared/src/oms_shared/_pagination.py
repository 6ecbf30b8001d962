"""Paging shared by every list endpoint: ``page`` and ``page_size`` in, a page out."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from oms_shared._validation import Integer, Schema

__all__ = ["Page", "PageQuery", "paginate"]

T = TypeVar("T")

MAX_PAGE_SIZE = 500


class PageQuery(Schema):
    """Mixed into list request schemas; out-of-range values are 40001, never clamped."""

    page: Integer = Field(1, ge=1, le=1_000_000)
    page_size: Integer = Field(20, ge=1, le=MAX_PAGE_SIZE)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


class Page(BaseModel, Generic[T]):
    list: list[T]
    total: int
    page: int
    page_size: int


def paginate(session: Session, stmt: Select, query: PageQuery) -> tuple[list, int]:
    """Rows of one page of ``stmt`` and the total count of its rows."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = list(session.scalars(stmt.limit(query.page_size).offset(query.offset)))
    return rows, total or 0
