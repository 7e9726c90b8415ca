"""DVC: stale stages from DVC's own status, in-process, without running anything.

``Repo.status()`` (which holds the repo lock) names the stages whose own deps, outs,
command or params changed against ``dvc.lock``. A stage downstream of a stale one is
stale too, even though DVC cannot see it yet (its deps are the upstream outs, which only
change when the upstream stage runs): they are found through DVC's stage graph, whose
edges point from a stage to the stages it depends on. ``.dvc`` pointer files are DVC
stages as well; they are not run, but a change to one makes its consumers stale.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from seid.errors import SeidError
from seid.evidence import file_sha256
from seid.fsutil import SEI_DIR
from seid.reproducers.base import Plan, Stage, dist_version
from seid.reproducers.execute import run_logged
from seid.reproducers.result import RunResult, file_subjects, from_outcome, tool_env
from seid.yamlsafe import load_yaml

if TYPE_CHECKING:
    import threading

    from seid.config.model import Pipeline
    from seid.drift import Drift
    from seid.snapshot import Snapshot


class DvcReproducer:
    """Plans with DVC's own view of what changed since ``dvc.lock``."""

    name: ClassVar[str] = "dvc"
    registry: ClassVar[bool] = False

    def __init__(self, root: Path, pipeline: Pipeline, previous: Mapping[str, Any] | None) -> None:
        self.root = root
        self.pipeline = pipeline

    @property
    def version(self) -> str | None:
        return dist_version("dvc")

    def plan(self, drift: Drift, snapshot: Snapshot) -> Plan:
        import networkx as nx  # type: ignore[import-untyped]
        from dvc.exceptions import DvcException
        from dvc.repo import Repo
        from dvc.stage import PipelineStage

        try:
            with Repo(str(self.root)) as repo:
                status: dict[str, list[Any]] = repo.status()
                graph = repo.index.graph
        except DvcException as exc:
            raise SeidError(f"dvc: {exc}") from None
        by_address = {stage.addressing: stage for stage in graph.nodes}
        name = {stage: stage_name(stage, self.root) for stage in graph.nodes}
        changed = [by_address[address] for address in sorted(status)]
        reasons: dict[Any, list[str]] = {s: _reasons(status[s.addressing]) for s in changed}
        for stage in _pinned_stages(graph.nodes, drift):
            reasons.setdefault(stage, []).append("a pinned table moved (.sei/tables.json)")
            changed += [] if stage in changed else [stage]
        for stage in changed:
            for consumer in nx.ancestors(graph, stage):
                reasons.setdefault(consumer, []).append(f"downstream of {name[stage]}")
        # Dependencies before their consumers: the order in which they would run.
        order = list(reversed(list(nx.topological_sort(graph))))
        runnable = [s for s in order if isinstance(s, PipelineStage)]
        stale = tuple(Stage(name[s], tuple(reasons[s])) for s in runnable if s in reasons)
        cached = tuple(name[s] for s in runnable if s not in reasons)
        note = None if stale else "DVC reports every stage up to date with dvc.lock"
        return Plan(self.name, stale=stale, cached=cached, note=note)

    def reproduce(
        self,
        plan: Plan,
        snapshot: Snapshot,
        log: Path,
        *,
        echo: bool | None = None,
        stop: threading.Event | None = None,
    ) -> RunResult:
        """``dvc repro`` through DVC's API in a child process: DVC itself skips what its
        lock says is current, and which stages ran is what ``Repo.reproduce()``
        returned (:mod:`seid.reproducers.dvc_run`); the lock digest is taken after."""
        report_path = log.with_suffix(".dvc.json")
        report_path.unlink(missing_ok=True)  # never read a report an earlier run left
        argv = [sys.executable, "-m", "seid.reproducers.dvc_run", str(report_path)]
        outcome = run_logged(
            argv, self.root, log, env=tool_env(snapshot.pins), echo=echo, stop=stop
        )
        report = _read_report(report_path)
        lock = self.root / "dvc.lock"
        result = from_outcome(
            self.root,
            self.name,
            self.version,
            outcome,
            self.pipeline.metrics,
            stages_run=tuple(report.get("ran", ())),
            stages_skipped=tuple(report.get("skipped", ())),
            lock_digest=file_sha256(lock) if lock.is_file() else None,
            artifacts=file_subjects(self.root, _lock_outs(lock)),
        )
        reason = report.get("error")
        if outcome.returncode != 0 and reason:
            result = replace(result, error=f"dvc: {' '.join(str(reason).split())}")
        return result

    def promote(self, result: RunResult) -> str | None:
        return None  # DVC has no model registry of its own


def _pinned_stages(stages: Any, drift: Drift) -> list[Any]:
    """Stages that read the table pins, when a table drifted: the pin file is rewritten
    only as the run starts, so DVC cannot see the change yet when seid plans."""
    from seid.tables.drift import PATH_PREFIX
    from seid.tables.pin import PINS_FILE

    if not any(p.startswith(PATH_PREFIX) for p in drift.changes.get("C", {})):
        return []
    pins = f"{SEI_DIR}/{PINS_FILE}"
    return [s for s in stages if any(str(d.def_path) == pins for d in getattr(s, "deps", ()))]


def stage_name(stage: Any, root: Path) -> str:
    """A stage's address relative to the repo root (DVC's own is relative to the cwd)."""
    from dvc.stage import PipelineStage

    rel = Path(os.path.relpath(stage.path, root)).as_posix()
    if not isinstance(stage, PipelineStage):
        return rel
    return stage.name if rel == "dvc.yaml" else f"{rel}:{stage.name}"


def _reasons(entries: Iterable[Any]) -> list[str]:
    """DVC's status entries (``{"changed deps": {path: how}}`` or a word) as sentences.

    Params nest one level deeper: ``{"params.yaml": {"train.c": "modified"}}``.
    """
    out: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict):
            out.append(str(entry))
            continue
        for what, changes in entry.items():
            for path, how in sorted(changes.items()):
                if isinstance(how, dict):
                    out += [f"{what}: {path} {key} {k_how}" for key, k_how in sorted(how.items())]
                else:
                    out.append(f"{what}: {path} {how}")
    return out


def _read_report(path: Path) -> dict[str, Any]:
    """The child's report; empty when it died before writing one (its log says why)."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def _lock_outs(lock: Path) -> list[str]:
    """The outputs ``dvc.lock`` records for every stage: what the pipeline produced."""
    if not lock.is_file():
        return []
    doc = load_yaml(lock, display="dvc.lock").data
    stages = doc.get("stages", {}) if isinstance(doc, dict) else {}
    return sorted(
        out["path"]
        for stage in stages.values()
        if isinstance(stage, dict)
        for out in stage.get("outs", [])
        if isinstance(out, dict) and isinstance(out.get("path"), str)
    )
