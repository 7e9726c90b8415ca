"""The whole chain once: snapshot -> drift -> plan -> reproduce -> assess -> attest.

``seid run`` and the daemon both call :func:`run`; only this module knows the order of
the stages. Each stage returns a value object the next one takes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from securesystemslib.signer import Signer  # type: ignore[attr-defined]  # re-exported

from seid import attest
from seid import promote as promotion
from seid.approvals.policy import requires_approval
from seid.assess import Assessment, assess
from seid.config import Manifest, load_manifest
from seid.config.placeholders import refuse_placeholders
from seid.drift import Detection, Drift, compare, detect
from seid.evidence import Subject
from seid.fsutil import sei_dir
from seid.reproducers.base import Plan, Reproducer, get_reproducer, plan
from seid.reproducers.execute import now
from seid.reproducers.result import RunResult, recorded_result
from seid.risk import analyze
from seid.runlock import run_lock
from seid.snapshot import DriftClass, Matcher, take_snapshot, watched_globs
from seid.statcache import StatCache

if TYPE_CHECKING:
    from seid.tables.state import TableSpec

# "failed-before": nothing changed since the newest bundle, and that run failed (gate
# error). Like a DVC stage whose command failed, it is not done; it is not retried on
# its own either (a daemon would re-run a broken pipeline forever): --force retries.
Status = Literal["up-to-date", "failed-before", "attested"]


@dataclass(frozen=True)
class RunReport:
    """What one pass of the chain did, for the CLI's table and the daemon's log."""

    status: Status
    detection: Detection
    plan: Plan | None = None
    result: RunResult | None = None
    assessment: Assessment | None = None
    gate: str | None = None
    attestation: attest.Attestation | None = None
    follow_up: tuple[str, ...] = ()
    promoted: str | None = None
    awaiting_approval: bool = False  # passed, but the approval policy holds the promotion
    oscal_results: Path | None = None

    @property
    def exit_code(self) -> int:
        """0 gate pass (or nothing to do), 1 gate not passing, 2 the pipeline failed."""
        if self.status == "up-to-date" or self.gate == "pass":
            return 0
        return 2 if self.gate == "error" or self.status == "failed-before" else 1

    def to_dict(self, cwd: Path, *, summary: bool = False) -> dict[str, Any]:
        """The report as ``seid run --json`` prints it: what drifted, what ran, every
        verdict, the gate, the entry. ``summary`` (the daemon's log line) names the
        drifted classes only and leaves out the pipeline record and the verdicts."""
        drift = self.detection.drift.to_predicate()
        doc: dict[str, Any] = {
            "status": self.status,
            "drift": (drift["classes"] or None) if summary else drift,
            "gate": self.gate,
            "follow_up": list(self.follow_up),
        }
        tables = self.detection.tables
        if tables is not None:
            doc["tables"] = {
                "pinned": {name: state.version for name, state in sorted(tables.states.items())},
                "changes": [change.to_json() for change in tables.changes],
            }
        if self.result is not None and not summary:
            doc["pipeline"] = self.result.pipeline_record(cwd)
        if self.assessment is not None and not summary:
            doc["verdicts"] = [v.to_dict() for v in self.assessment.verdicts]
        if self.attestation is not None:
            doc["ledger"] = {
                "log_id": self.attestation.log_id,
                "index": self.attestation.index,
                "entry_sha256": self.attestation.entry_sha256,
            }
        if self.promoted is not None:
            doc["promoted"] = self.promoted
        if self.awaiting_approval:
            doc["awaiting_approval"] = True
        if self.oscal_results is not None:
            doc["oscal_results"] = str(self.oscal_results)
        return doc


def declared_tables(root: Path, manifest: Manifest) -> list[TableSpec]:
    """The lakehouse tables among the data inputs (none unless ``inputs.tables``)."""
    return [table.spec() for table in manifest.resolved_inputs(root).tables]


def _pinned(root: Path, tables: Sequence[TableSpec], found: Detection) -> Detection:
    """The versions just read become the pipeline's: written once, before it starts."""
    if found.tables is None:
        return found
    from seid.tables.pin import write_pins

    versions = {name: state.version for name, state in found.tables.states.items()}
    pins = write_pins(root, tables, versions)
    return replace(found, snapshot=replace(found.snapshot, pins=pins))


def _follow_up(
    root: Path,
    globs: Mapping[DriftClass, list[str]],
    found: Detection,
    cache: StatCache,
    tables: Sequence[TableSpec],
) -> tuple[str, ...]:
    """Paths that changed while the pipeline ran, and tables whose data moved past the
    pinned version: the bundle says so, a new run is due."""
    after = take_snapshot(root, globs, cache)
    moved = compare(found.snapshot.inputs, after, Matcher(globs))
    changed = [p for paths in moved.paths.values() for p in paths]
    if found.tables is not None:
        from seid.tables.drift import check_tables

        pinned = check_tables(root, tables, found.tables.to_predicate())
        changed += [change.describe() for change in pinned.drifted]
    return tuple(sorted(changed))


def run(
    root: Path,
    signer: Signer,
    *,
    force: bool = False,
    echo: bool | None = None,
    stop: threading.Event | None = None,
    oscal_results: bool = False,
) -> RunReport:
    """One pass of the chain over the repository at ``root``, holding its run lock.

    ``oscal_results`` also writes the attested run as an OSCAL assessment-results
    document beside the compiled plan. With ``stop`` (the daemon) a run of another
    process is waited for; without it (the CLI) it is an error naming that process.
    """
    with run_lock(root, stop=stop):
        return _run(root, signer, force, echo, stop, oscal_results)


def _run(
    root: Path,
    signer: Signer,
    force: bool,
    echo: bool | None,
    stop: threading.Event | None,
    oscal_results: bool,
) -> RunReport:
    manifest = load_manifest(root)
    refuse_placeholders(root)
    globs = watched_globs(root, manifest)
    tables = declared_tables(root, manifest)
    with StatCache.open(root) as cache:
        found = detect(root, globs, cache, tables=tables)
        # No trusted evidence yet: nothing is up to date, the first run is the baseline.
        if not found.drift and not force and found.baseline.evidenced:
            last = found.baseline.predicate or {}
            return RunReport(
                "failed-before" if last.get("gate") == "error" else "up-to-date", found
            )
        found = _pinned(root, tables, found)
        previous = found.baseline.predicate
        the_plan = plan(root, manifest.pipeline, previous, found.drift, found.snapshot)
        reproducer = None
        if previous is not None and not the_plan.stale and not force:
            result = recorded_result(manifest.pipeline.tool, previous, reassessed=True)
        else:
            reproducer = get_reproducer(manifest.pipeline.tool)(root, manifest.pipeline, previous)
            log = sei_dir(root, "logs") / f"{now().strftime('%Y%m%dT%H%M%SZ')}.log"
            result = reproducer.reproduce(the_plan, found.snapshot, log, echo=echo, stop=stop)
        follow_up = _follow_up(root, globs, found, cache, tables)
    report = _attest(root, signer, manifest, found, the_plan, result, follow_up)
    if reproducer is not None and report.gate == "pass" and reproducer.registry:
        report = _promote(root, signer, manifest, reproducer, report)
    if oscal_results:
        report = replace(report, oscal_results=_write_oscal(root, manifest, report, result))
    return report


def _promote(
    root: Path, signer: Signer, manifest: Manifest, reproducer: Reproducer, report: RunReport
) -> RunReport:
    """Promotion only after the passing bundle is in the ledger, never before; under an
    approval policy not at all: ``seid promote`` does it once the bundle is approved."""
    if requires_approval(manifest):
        return replace(report, awaiting_approval=True)
    assert report.result is not None and report.attestation is not None
    promoted = reproducer.promote(report.result)
    if promoted is not None:
        commit = report.detection.snapshot.commit
        promotion.record(root, signer, report.attestation, commit, promoted)
    return replace(report, promoted=promoted)


def _write_oscal(root: Path, manifest: Manifest, report: RunReport, result: RunResult) -> Path:
    from seid.oscal.results import RunOutcome, write_results

    assert report.attestation is not None and report.assessment is not None
    outcome = RunOutcome(
        assessment=report.assessment,
        gate=report.gate or "error",
        started=result.started,
        finished=result.finished,
        log_id=report.attestation.log_id,
        index=report.attestation.index,
        entry_sha256=report.attestation.entry_sha256,
        error=result.error,
    )
    return write_results(root, manifest, outcome)


def _attest(
    root: Path,
    signer: Signer,
    manifest: Manifest,
    found: Detection,
    the_plan: Plan,
    result: RunResult,
    follow_up: tuple[str, ...],
) -> RunReport:
    assessment = assess(manifest, result.metrics)
    gate = "error" if result.error is not None else assessment.gate
    predicate = attest.build_predicate(
        manifest=manifest,
        snapshot=found.snapshot,
        drift=found.drift if found.drift else Drift(),
        pipeline=result.pipeline_record(root),
        metrics=result.metrics,
        assessment=assessment,
        analysis=analyze(manifest.risk),
        claims=attest.claim_records(root, manifest, result.metrics, found.snapshot),
        gate=gate,
        ledger={},
        extra=_extra(found, follow_up),
    )
    # What the run produced or judged: its artifacts, the metrics, the pipeline lock, the
    # tool's log, and the manifest whose criteria judged them (so there is always one).
    subject_paths = [manifest.pipeline.metrics, "dvc.lock", manifest.path.name]
    if result.log_path is not None:
        subject_paths.append(result.log_path.relative_to(root).as_posix())
    subjects = [*result.artifacts, *attest.subjects(root, subject_paths)]
    attestation = attest.append(root, signer, _unique(subjects), predicate)
    return RunReport("attested", found, the_plan, result, assessment, gate, attestation, follow_up)


def _extra(found: Detection, follow_up: tuple[str, ...]) -> dict[str, Any]:
    """The predicate's optional fields: the follow-up, and the pinned tables (DESIGN)."""
    extra: dict[str, Any] = {"follow_up": list(follow_up)} if follow_up else {}
    if found.tables is not None:
        extra["tables"] = found.tables.to_predicate()
    return extra


def _unique(subjects: list[Subject]) -> list[Subject]:
    seen: dict[str, Subject] = {}
    for subject in subjects:
        seen.setdefault(subject.name, subject)
    return [seen[name] for name in sorted(seen)]
