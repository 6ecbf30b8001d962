"""Times on the wire: ISO 8601 UTC with milliseconds, e.g. ``2026-11-28T08:00:00.000Z``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer

__all__ = ["UtcDateTime", "isoformat_ms", "parse_time", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat_ms(value: datetime) -> str:
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they are UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str | int | float) -> datetime:
    """ISO 8601 or epoch milliseconds, as a filter value; raise ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("expected an ISO 8601 time or epoch milliseconds")
    if isinstance(value, int | float) or (isinstance(value, str) and value.isascii()
                                          and value.isdigit()):
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


UtcDateTime = Annotated[datetime, PlainSerializer(isoformat_ms, return_type=str)]
