"""Substring filters that treat ``%`` and ``_`` in the user's text literally."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlalchemy.orm import InstrumentedAttribute

__all__ = ["contains"]


def contains(column: InstrumentedAttribute, text: str) -> ColumnElement[bool]:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")
