"""When a review is overdue: one rule for the daemon's schedule and the auditor's replay.

ISO/IEC 23894 6.6 asks for monitoring and review at planned intervals. A review is due
one ``review_interval`` (an ISO 8601 duration, calendar-aware) after the last one, and
overdue at any moment strictly after that. The daemon asks at "now" from the newest
evaluation; replay asks at each later event of the history; both ask here, so the
warning a host logs and the finding an auditor reads cannot disagree on the boundary.
"""

from __future__ import annotations

from datetime import datetime

from seid.isotime import add_duration


def due(last: datetime, interval: str) -> datetime:
    """When the review after one held at ``last`` is due."""
    return add_duration(last, interval)


def overdue(last: datetime | None, interval: str, at: datetime) -> bool:
    """Whether, at ``at``, a review is overdue; never reviewed at all is overdue."""
    return last is None or at > due(last, interval)
