"""seid.isotime: one rule for instants, one parser for durations."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest

from seid.isotime import Duration, add_duration, instant


def test_an_instant_is_aware_and_in_utc_whatever_its_form() -> None:
    noon = datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert instant("2026-05-01T12:00:00Z") == noon
    assert instant("2026-05-01T14:00:00+02:00") == noon
    assert instant("2026-05-01T12:00:00") == noon  # no zone: UTC, never local time
    assert instant("2026-05-01T14:00:00+02:00").tzinfo is UTC  # type: ignore[union-attr]
    for bad in ("yesterday", "", None, 3, "2026-13-01T00:00:00Z"):
        assert instant(bad) is None


def test_no_zone_means_utc_on_a_host_in_another_zone() -> None:
    """The report's chart read zoneless times as local time; the one rule does not."""
    probe = "from seid.isotime import instant; print(instant('2026-05-01T12:00:00').timestamp())"
    env = {**os.environ, "TZ": "America/Los_Angeles"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert float(out.stdout) == datetime(2026, 5, 1, 12, tzinfo=UTC).timestamp()


def test_durations_add_on_the_calendar() -> None:
    assert add_duration(datetime(2026, 1, 31), "P1M") == datetime(2026, 2, 28)
    assert add_duration(datetime(2026, 5, 1), "P6M") == datetime(2026, 11, 1)
    assert add_duration(datetime(2026, 5, 1), "P1Y2W") == datetime(2027, 5, 15)
    assert add_duration(datetime(2026, 5, 1), "PT1H30M") == datetime(2026, 5, 1, 1, 30)
    aware = datetime(2026, 5, 1, tzinfo=timezone(timedelta(hours=2)))
    assert add_duration(aware, "P1DT0.5S") == aware + timedelta(days=1, seconds=0.5)
    for bad in ("P", "PT", "6M", "P1.5M", "P1MT"):
        with pytest.raises(ValueError, match="not an ISO 8601 duration"):
            add_duration(datetime(2026, 5, 1), bad)


def test_a_duration_of_one_whole_unit_is_a_frequency() -> None:
    assert Duration.parse("P1M").every() == (1, "months")
    assert Duration.parse("P2W").every() == (14, "days")
    assert Duration.parse("PT5M").every() == (5, "minutes")
    assert Duration.parse("P1M0D").every() == (1, "months")
    for mixed in ("P1Y2M", "P0D", "PT1.5S", "P1DT1H"):
        assert Duration.parse(mixed).every() is None
