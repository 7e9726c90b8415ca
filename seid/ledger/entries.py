"""Every entry of every log a repository holds, decoded, with why it cannot be trusted.

Replay (bundles joined to commits) and approvals (decisions and the newest bundle they
bind to) both read the whole ledger; both read it here, so they trust exactly the same
entries. The logs are those :func:`seid.ledger.verify.verify_repo` reported on, local and
published. A fork (on either side), a missing tail or an untrusted key taints every
entry from its index on; any other problem (a bad signature, a checkpoint that does not
match the tree) marks the entry it is located at. A log rewritten after witnesses
cosigned it is tainted where it parts from their history; the log a witness kept
(``refs/seid/witness/<id>:<log-id>.log``) is read in its place. A changed subject file
marks nothing: the entry still stands for what it recorded. The same entry read from a
local log and from its ref is yielded once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from seid import evidence, git
from seid.errors import SeidError, VerificationError
from seid.ledger import records, refs
from seid.ledger.paths import REF_PREFIX, log_dir
from seid.ledger.verify import LogReport, Problem

STALE_SUBJECT = "subject "  # verify's reason for a subject file changed since
_TAINTS = ("fork", "missing", "rewritten")


@dataclass(frozen=True)
class Entry:
    """One entry; ``statement`` is None when it does not decode (or could not be read),
    ``problem`` says why it must not be used as evidence (None: it verified)."""

    log_id: str
    index: int
    source: str
    digest: str | None  # SHA-256 hex of the entry bytes; None: the record is unreadable
    statement: Mapping[str, Any] | None
    problem: str | None

    @property
    def ref(self) -> str:
        return entry_ref(self.log_id, self.index)

    @property
    def predicate_type(self) -> str | None:
        found = self.statement.get("predicateType") if self.statement else None
        return found if isinstance(found, str) else None

    @property
    def predicate(self) -> Mapping[str, Any]:
        found = self.statement.get("predicate") if self.statement else None
        return found if isinstance(found, dict) else {}


def entry_ref(log_id: str, index: int) -> str:
    """How reports and messages name an entry: ``<log id prefix>#<index>``."""
    return f"{log_id[:16]}#{index}"


def run_time(predicate: Mapping[str, Any]) -> str | None:
    """When the run an evidence predicate records finished (else started), as recorded;
    the order both replay and approvals put bundles in."""
    pipeline = predicate.get("pipeline")
    if isinstance(pipeline, dict):
        for key in ("finished", "started"):
            if isinstance(pipeline.get(key), str):
                return str(pipeline[key])
    return None


def read(root: Path, reports: Sequence[LogReport]) -> Iterator[Entry]:
    """Every entry of the logs ``reports`` describe, by log id, local copy first."""
    seen: set[tuple[str, int, str]] = set()
    for log_id in sorted({r.log_id for r in reports}):
        mine = [r for r in reports if r.log_id == log_id]
        forks = [p for r in mine for p in r.problems if p.reason.startswith("fork")]
        fork = min(forks, key=lambda p: p.entry) if forks else None
        for report in mine:
            yield from _read_log(root, report, _problems(report, fork), seen)


def _read_log(
    root: Path, report: LogReport, bad: dict[int, str], seen: set[tuple[str, int, str]]
) -> Iterator[Entry]:
    for index, data in _records(root, report):
        reason = bad.pop(index, None) or (bad.get(-1) if index >= report.size else None)
        digest = hashlib.sha256(data).hexdigest()
        if (report.log_id, index, digest) in seen:
            continue
        seen.add((report.log_id, index, digest))
        try:
            statement: Mapping[str, Any] | None = evidence.decode(data)
        except VerificationError as err:
            statement, reason = None, reason or str(err)
        yield Entry(report.log_id, index, report.source, digest, statement, reason)
    for index, reason in sorted(bad.items()):
        if index >= 0:  # reported but unreadable (a torn or corrupt record)
            yield Entry(report.log_id, index, report.source, None, None, reason)


def _problems(report: LogReport, fork: Problem | None) -> dict[int, str]:
    """Reasons by entry index (-1: entries past the verified size)."""
    bad: dict[int, str] = {}
    taint_from: tuple[int, str] | None = None
    for problem in [*report.problems, *([fork] if fork else [])]:
        if problem.reason.startswith(STALE_SUBJECT):
            continue
        known = bad.get(problem.entry)
        if known is None or problem.reason not in known:
            bad[problem.entry] = f"{known}; {problem.reason}" if known else problem.reason
        taints = problem.reason.startswith(_TAINTS) or "not trusted" in problem.reason
        if taints and (taint_from is None or problem.entry < taint_from[0]):
            taint_from = (problem.entry, problem.reason)
    if taint_from is not None:
        start, reason = taint_from
        for index in range(start, max(report.size, start + 1)):
            bad.setdefault(index, reason)
        bad[-1] = reason
    return bad


def _records(root: Path, report: LogReport) -> Iterator[tuple[int, bytes]]:
    """``(index, entry bytes)`` of the log a report describes, until the first torn record."""
    if report.source.startswith(REF_PREFIX):
        with refs.open_ref_log(root, report.log_id) as stream:
            yield from _pairs(stream)
        return
    if report.source.startswith("refs/"):  # ``ref:path``: the log a witness kept
        with git.stream_blob(root, report.source) as stream:
            yield from _pairs(stream)
        return
    path = log_dir(root, report.log_id) / "log"
    try:
        with path.open("rb", buffering=1 << 20) as stream:
            yield from _pairs(stream)
    except OSError as exc:
        raise SeidError(f"cannot read {path}: {exc.strerror}") from None


def _pairs(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    try:
        for index, (entry, _) in enumerate(records.iterate_pairs(stream)):
            yield index, entry
    except records.RecordError:
        return  # verify_repo reported it
