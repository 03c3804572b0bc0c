"""Command-line dates: read as UTC, and never in the future for scoring."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from foundation.errors import ConfigError
from foundation.moments import parse_moment

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=timezone.utc)


def test_a_date_is_midnight_utc_and_tomorrow_is_still_accepted():
    assert parse_moment("2026-11-01", now=NOW) == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert parse_moment("2026-11-23", now=NOW) == datetime(2026, 11, 23, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", ["3000-01-01", "2026-11-24", "2026-11-23T10:00:00Z"])
def test_a_moment_more_than_a_day_ahead_is_refused_in_one_line(text):
    with pytest.raises(ConfigError) as info:
        parse_moment(text, now=NOW)
    assert str(info.value) == (f"--as-of {text} is in the future (today is 2026-11-22 UTC); "
                               f"use today or a past date")


def test_a_filter_may_name_the_future():
    assert parse_moment("2999-01-01", "--since", now=NOW, future=True).year == 2999
