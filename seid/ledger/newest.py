"""The newest statement of a kind in a repository's local logs: a hint, never trust.

What drift compares with (the last evidence bundle) and what the daemon's detections
build on (the last detection) is found here, from the end of each log, without
verifying anything: whatever is found is compared, and a run's own bundle is verified
where trust matters (``seid verify``, replay).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from seid import evidence
from seid.errors import VerificationError
from seid.isotime import instant
from seid.ledger.log import Ledger
from seid.ledger.paths import list_logs


def latest_statement(repo_root: Path, predicate_type: str) -> dict[str, Any] | None:
    """The newest statement of ``predicate_type`` in the local logs, NOT verified.

    Each log is searched from its end (appends are in order). When several logs hold one,
    the statement whose ``pipeline.finished`` is latest wins, then the higher ledger
    index; a statement without that time (a detection, say) ranks below any with one.
    What the statements say decides, never the log files' mtimes: a log copied, fetched
    or touched does not change the answer. For finding the last evidenced snapshot,
    never for trust.
    """
    found: list[tuple[tuple[datetime, int], dict[str, Any]]] = []
    for log_id in list_logs(repo_root):
        with Ledger.open(repo_root, log_id) as ledger:
            for i in range(ledger.size - 1, -1, -1):
                try:
                    statement = evidence.decode(ledger.entry(i))
                except VerificationError:
                    continue
                if statement.get("predicateType") == predicate_type:
                    found.append(((_finished(statement), i), statement))
                    break
    return max(found, key=lambda item: item[0])[1] if found else None


_NEVER = datetime.min.replace(tzinfo=UTC)


def _finished(statement: dict[str, Any]) -> datetime:
    predicate = statement.get("predicate")
    return (finished_at(predicate) if isinstance(predicate, dict) else None) or _NEVER


def finished_at(predicate: Mapping[str, Any]) -> datetime | None:
    """When the run a predicate records finished (``pipeline.finished``), or None."""
    pipeline = predicate.get("pipeline")
    return instant(pipeline.get("finished")) if isinstance(pipeline, dict) else None
