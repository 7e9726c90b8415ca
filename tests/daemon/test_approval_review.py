"""The review job flags an approval whose review is due (its expiry passed), and only then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from seid.daemon import scheduler
from tests.approvals.conftest import make_project

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Recorder:
    """Stands in for the job's logger: what it warned about, with its fields."""

    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.warnings.append((event, fields))

    def error(self, event: str, **fields: Any) -> None:
        raise AssertionError(f"{event}: {fields}")


@pytest.mark.parametrize(("days", "due"), [(10, False), (31, True)])
def test_review_job_flags_an_expired_approval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, days: int, due: bool
) -> None:
    project = make_project(tmp_path, [], expires="P30D")
    project.bundle("v1", finished=T0.isoformat())
    project.decide("alice", "request", at=T0)
    project.decide("bob", "grant", at=T0 + timedelta(hours=1))
    log = Recorder()
    monkeypatch.setattr(scheduler, "_log", log)
    repo = SimpleNamespace(config=SimpleNamespace(path=project.root))
    service = SimpleNamespace(
        repos={project.root: repo},
        config=SimpleNamespace(schedules=SimpleNamespace(review_rerun=False)),
    )
    scheduler.review(cast(Any, service), now=T0 + timedelta(days=days))
    flagged = [fields for event, fields in log.warnings if event == "approval review due"]
    expires = (T0 + timedelta(days=30, hours=1)).isoformat()
    assert flagged == ([{"expires": expires}] if due else [])
