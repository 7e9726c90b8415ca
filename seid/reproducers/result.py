"""What a reproduction returns, whichever tool ran it.

A failed reproduction is a result too (``error`` set): it is attested with gate
``error`` and the reason, because a pipeline that cannot run is evidence of its own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from seid.errors import InputError
from seid.evidence import Subject, subject_for_file
from seid.metrics_file import Metric, load_metrics
from seid.reproducers.execute import Outcome, error_lines, now


@dataclass(frozen=True)
class RunResult:
    """Metrics, produced artifacts and the tool's own account of what it ran."""

    tool: str
    tool_version: str | None
    started: datetime
    finished: datetime
    metrics: Mapping[str, Metric] = field(default_factory=dict)
    artifacts: tuple[Subject, ...] = ()
    lock_digest: str | None = None
    stages_run: tuple[str, ...] = ()
    stages_skipped: tuple[str, ...] = ()
    log_path: Path | None = None
    error: str | None = None
    error_lines: tuple[str, ...] = ()  # the tool's last error lines, when it failed
    details: Mapping[str, Any] = field(default_factory=dict)

    def pipeline_record(self, root: Path) -> dict[str, Any]:
        """The bundle's ``pipeline`` field."""
        record: dict[str, Any] = {
            "tool": self.tool,
            "version": self.tool_version,
            "lock_digest": self.lock_digest,
            "stages_run": list(self.stages_run),
            "stages_skipped": list(self.stages_skipped),
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "log": _relative(self.log_path, root),
        }
        if self.error is not None:
            record["error"] = self.error
        if self.error_lines:
            record["error_lines"] = list(self.error_lines)
        record.update(self.details)
        return record


def _relative(path: Path | None, root: Path) -> str | None:
    if path is None:
        return None
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a tool runs in: seid's interpreter first on PATH.

    Pipeline definitions say ``python train.py``; that must be the interpreter seid runs
    under (the one with the tool installed), not whatever ``python`` a service finds.
    """
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(
        [bindir, *[p for p in env.get("PATH", "").split(os.pathsep) if p]]
    )
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def file_subjects(root: Path, paths: Iterable[str]) -> tuple[Subject, ...]:
    """Subjects for the files among ``paths`` (directories expanded), hashed now."""
    found: dict[str, Subject] = {}
    for name in paths:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                subject = subject_for_file(file, root)
                found[subject.name] = subject
    return tuple(found[name] for name in sorted(found))


def from_outcome(
    root: Path,
    tool: str,
    version: str | None,
    outcome: Outcome,
    metrics_path: str | None,
    **fields: Any,
) -> RunResult:
    """A result from a finished tool process: its metrics file, or the reason there is none.

    ``metrics_path`` None: the tool keeps the metrics itself and the caller reads them.
    """
    base: dict[str, Any] = {
        "tool": tool,
        "tool_version": version,
        "started": outcome.started,
        "finished": outcome.finished,
        "log_path": outcome.log_path,
        **fields,
    }
    if outcome.returncode != 0:
        error = f"{outcome.argv[0]} exited with status {outcome.returncode}"
        return RunResult(**base, error=error, error_lines=error_lines(outcome))
    if metrics_path is None:
        return RunResult(**base)
    try:
        metrics = load_metrics(root / metrics_path, display=metrics_path)
    except InputError as exc:
        return RunResult(**base, error=f"metrics: {exc}")
    return RunResult(**base, metrics=metrics)


def metrics_from_record(record: Mapping[str, Any]) -> dict[str, Metric]:
    """The inverse of :func:`seid.attest.metrics_record`: a bundle's metrics, re-read."""
    out = {}
    for name, entry in record.items():
        power = entry.get("power", {})
        out[name] = Metric(
            float(entry["value"]),
            power.get("ci_low"),
            power.get("ci_high"),
            power.get("ci_level"),
            power.get("n"),
            power.get("method"),
        )
    return out


# What a pipeline record says about that run itself; the rest describes what was judged.
_RUN_FIELDS = frozenset(
    {"tool", "version", "lock_digest", "stages_run", "stages_skipped"}
    | {"started", "finished", "log", "error", "error_lines"}
)


def recorded_result(tool: str, predicate: Mapping[str, Any], *, reassessed: bool) -> RunResult:
    """The run a bundle records, as a result timed now (nothing ran).

    What a criteria-only change re-assesses (``reassessed``) and what a deferred
    promotion promotes. The tool's record of what was judged (Dagster's code versions,
    MLflow's run and model version) is carried: the next plan compares against it, and
    the registry audit matches a promoted version to the bundle.
    """
    moment = now()
    pipeline = predicate.get("pipeline", {})
    carried = {k: v for k, v in pipeline.items() if k not in _RUN_FIELDS}
    return RunResult(
        tool=tool,
        tool_version=pipeline.get("version"),
        started=moment,
        finished=moment,
        metrics=metrics_from_record(predicate.get("metrics", {})),
        lock_digest=pipeline.get("lock_digest"),
        details={**carried, "reassessed": True} if reassessed else carried,
    )
