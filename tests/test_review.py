"""One rule for an overdue review, as the daemon and replay both apply it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from seid.review import due, overdue


def test_due_is_one_calendar_interval_later() -> None:
    last = datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert due(last, "P1M") == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert due(last, "P6M") == datetime(2026, 7, 31, 12, tzinfo=UTC)


def test_overdue_only_strictly_after_the_due_time() -> None:
    last = datetime(2026, 3, 1, tzinfo=UTC)
    at_due = due(last, "P1D")
    assert not overdue(last, "P1D", at_due)
    assert overdue(last, "P1D", at_due + timedelta(seconds=1))
    assert overdue(None, "P1D", last)  # never reviewed
