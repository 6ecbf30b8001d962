from datetime import UTC, datetime

import pytest

from oms_shared._times import isoformat_ms, parse_time


def test_times_are_iso_utc_with_milliseconds():
    assert isoformat_ms(datetime(2026, 11, 28, 8, 0, tzinfo=UTC)) == "2026-11-28T08:00:00.000Z"
    assert isoformat_ms(datetime(2026, 11, 28, 8, 0)) == "2026-11-28T08:00:00.000Z"  # SQLite


@pytest.mark.parametrize("value", ["2026-11-28T08:00:00.000Z", "2026-11-28T08:00:00+00:00",
                                   1795852800000, "1795852800000"])
def test_time_filters_take_iso_or_epoch_milliseconds(value):
    assert parse_time(value) == datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["soon", "\u00b2", True, ""])
def test_anything_else_is_a_value_error(value):
    with pytest.raises(ValueError):  # noqa: PT011 - callers turn it into 40001
        parse_time(value)
