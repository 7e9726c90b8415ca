"""ISO 8601 as seid reads it: one rule for instants, one parser for durations.

Instants come from bundles, approvals, caches, git and the command line. A time written
without a zone is read as UTC, everywhere: seid writes every instant with its zone, and
UTC is what a record from another host can only mean; this host's local time never is.
"""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

_DURATION: Final = re.compile(
    r"P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?"
)
_UNITS: Final = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")


def instant(text: object) -> datetime | None:
    """``text`` as an aware datetime in UTC, or None when it is not an ISO 8601 time."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Duration:
    """An ISO 8601 duration (``P6M``, ``P1DT12H``), its parts kept apart: a month is a
    calendar month, not 30 days."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _DURATION.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not an ISO 8601 duration such as P6M or P1DT12H")
        years, months, weeks, days, hours, minutes = (int(g or 0) for g in match.groups()[:6])
        seconds = float(match.group(7) or 0)
        return cls(years, months, weeks, days, hours, minutes, seconds)

    def after(self, start: datetime) -> datetime:
        """``start`` plus this duration, months and years on the calendar: "P1M" after
        31 January is the last day of February."""
        month_index = start.month - 1 + self.months + 12 * self.years
        year, month = start.year + month_index // 12, month_index % 12 + 1
        day = min(start.day, _days_in_month(year, month))
        moved = start.replace(year=year, month=month, day=day)
        return moved + timedelta(
            weeks=self.weeks,
            days=self.days,
            hours=self.hours,
            minutes=self.minutes,
            seconds=self.seconds,
        )

    def every(self) -> tuple[int, str] | None:
        """``(period, unit)`` when the duration is a whole number of one unit (weeks as
        days), as a schedule states a frequency; None otherwise."""
        parts = [(value, unit) for value, unit in zip(astuple(self), _UNITS, strict=True) if value]
        if len(parts) != 1 or parts[0][0] != int(parts[0][0]):
            return None
        value, unit = int(parts[0][0]), parts[0][1]
        return (value * 7, "days") if unit == "weeks" else (value, unit)


def add_duration(start: datetime, duration: str) -> datetime:
    """``start`` plus the ISO 8601 ``duration``; ValueError when it is not one."""
    return Duration.parse(duration).after(start)


def _days_in_month(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day
