"""Newest-first pages of a history (a device's logs, its commands): by ``page``, or by
``cursor`` after the last row seen.

A history table has an index ending in ``(time, id)`` after its filter columns; the
cursor is the time and id of the last row of a page, so the next page reads the index
from there on and a page deep in the history costs what the first costs.
:func:`history_page` is the one query; :class:`HistoryQuery` the request schema every
history endpoint extends; :class:`HistoryPage` the answer (a page plus
``next_cursor``, None on the last page).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, NamedTuple, TypeVar

from pydantic import ConfigDict, Field, StrictStr, model_validator
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from oms_shared._pagination import Page, PageQuery
from oms_shared._validation import Integer, accepts, beyond_schema

__all__ = ["BAD_CURSOR", "NOT_A_TIME", "ORDER", "Cursor", "CursorField", "HistoryPage",
           "HistoryQuery", "TimeFilter", "cursor_field", "history_page"]

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
#: An ISO 8601 time as a filter takes it: date and time to the second, a fraction, and an
#: offset (none: UTC), e.g. ``2026-11-28T08:00:00.000Z``.
ISO_TIME = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
            r"(Z|[+-][0-9]{2}:[0-9]{2})?$")
#: The forms of a time filter: an ISO 8601 time, or epoch milliseconds (a number, or
#: digits as text).
TimeForms = (Annotated[StrictStr, Field(pattern=ISO_TIME)]
             | Annotated[StrictStr, Field(pattern=r"^[0-9]{1,15}$")]
             | Annotated[Integer, Field(ge=0, le=MAX_EPOCH_MS)])
# refusals beyond the forms (the document lists them: ``x-oms-checks``)
NOT_A_TIME = "not a time that exists"
ORDER = "start_time is after end_time"
BAD_CURSOR = "not a cursor this endpoint returned"


def _time(value: str | int) -> datetime:
    """A time filter in one of its forms, as a UTC time (UTC unless it says otherwise)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    try:
        if isinstance(value, int):
            if value > MAX_EPOCH_MS:
                raise ValueError(value)
            return datetime.fromtimestamp(value / 1000, UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise ValueError(f"{NOT_A_TIME} (a day, hour or offset out of range)") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


TimeFilter = Annotated[datetime, accepts(TimeForms, "must be an ISO 8601 time "
                                                    "(2026-11-28T08:00:00.000Z) or epoch "
                                                    "milliseconds", then=_time),
                       Field(json_schema_extra=beyond_schema(NOT_A_TIME))]


class Cursor(NamedTuple):
    """A position in a newest-first history: the last row seen (its time and id)."""

    time: datetime
    id: int

    def encode(self) -> str:
        time = self.time if self.time.tzinfo else self.time.replace(tzinfo=UTC)
        micros = (time - EPOCH) // timedelta(microseconds=1)
        raw = f"{micros}:{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
            micros, _, ident = raw.partition(":")
            time = EPOCH + timedelta(microseconds=int(micros))
            cursor = cls(time=time, id=int(ident))
        except (ValueError, UnicodeDecodeError, OverflowError):
            raise ValueError(BAD_CURSOR) from None
        if cursor.id < 1:
            raise ValueError(BAD_CURSOR)
        return cursor


#: What a cursor looks like (what :meth:`Cursor.encode` makes: URL-safe base64); which
#: ones the endpoint made, no schema can say.
CursorText = Annotated[StrictStr, Field(min_length=1, max_length=128,
                                        pattern=r"^[A-Za-z0-9_-]+$")]


def cursor_field(kind: Any, decode: Callable[[str], Any]) -> Any:
    """The type of a body field holding a cursor of ``kind``, read by ``decode`` (which
    raises ``ValueError`` for one the endpoint did not make)."""
    return Annotated[kind, accepts(CursorText, BAD_CURSOR, then=decode),
                     Field(json_schema_extra=beyond_schema(BAD_CURSOR))]


CursorField = cursor_field(Cursor, Cursor.decode)


class HistoryQuery(PageQuery):
    """A history page: offset paging by ``page``, or keyset paging after ``cursor``
    (then ``page`` is not used). ``start_time``/``end_time`` are inclusive."""

    model_config = ConfigDict(json_schema_extra=beyond_schema(ORDER))

    cursor: CursorField | None = None
    start_time: TimeFilter | None = None
    end_time: TimeFilter | None = None

    @model_validator(mode="after")
    def _ordered(self) -> HistoryQuery:
        if self.start_time and self.end_time and self.start_time > self.end_time:
            raise ValueError(ORDER)
        return self


class HistoryPage(Page[T], Generic[T]):
    next_cursor: str | None


def history_page(session: Session, model: Any, where: list[Any], query: HistoryQuery, *,
                 time: Any) -> dict[str, Any]:
    """One newest-first page of ``model``'s rows matching ``where`` (plus the query's time
    range on the column ``time``), as a :class:`HistoryPage` dict. ``total`` counts every
    row the filters match, whatever the page."""
    where = list(where)
    if query.start_time is not None:
        where.append(time >= query.start_time)
    if query.end_time is not None:
        where.append(time <= query.end_time)
    total = session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    stmt = select(model).where(*where).order_by(time.desc(), model.id.desc())
    if query.cursor is not None:
        at = query.cursor
        # ``time <= t`` bounds the index range; the OR only sorts out rows at ``t`` itself
        stmt = stmt.where(time <= at.time,
                          or_(time < at.time, and_(time == at.time, model.id < at.id)))
    else:
        stmt = stmt.offset(query.offset)
    rows = list(session.scalars(stmt.limit(query.page_size + 1)))
    more = len(rows) > query.page_size
    rows = rows[:query.page_size]
    cursor = Cursor(time=getattr(rows[-1], time.key), id=rows[-1].id).encode() if more else None
    return {"list": rows, "total": total, "page": query.page, "page_size": query.page_size,
            "next_cursor": cursor}
