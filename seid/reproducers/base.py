"""The reproducer protocol: one adapter per pipeline tool, behind one interface.

An adapter answers ``plan()``: given the drift and the snapshot, which stages are stale
and why, and which stay cached, without running anything. The engine never imports a
tool itself; :func:`get_reproducer` imports the adapter module only when asked, and the
adapter imports its tool only inside the methods that need it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from seid.errors import ToolMissingError

if TYPE_CHECKING:
    import threading

    from seid.config.model import Pipeline
    from seid.drift import Drift
    from seid.reproducers.result import RunResult
    from seid.snapshot import Snapshot

RERUN_CLASSES = frozenset({"B", "C"})


@dataclass(frozen=True)
class Stage:
    """A unit the tool re-runs (a DVC stage, a Dagster asset, an MLflow entry point)."""

    name: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """What ``seid run`` would re-run, and what stays cached, with the reasons."""

    tool: str
    stale: tuple[Stage, ...] = ()
    cached: tuple[str, ...] = ()
    note: str | None = None

    @property
    def reasons(self) -> dict[str, tuple[str, ...]]:
        return {stage.name: stage.reasons for stage in self.stale}

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "stale": [{"name": s.name, "reasons": list(s.reasons)} for s in self.stale],
            "cached": list(self.cached),
            "note": self.note,
        }


class Reproducer(Protocol):
    """A pipeline tool's adapter. ``previous`` is the newest evidence predicate, if any."""

    name: ClassVar[str]
    registry: ClassVar[bool]  # whether :meth:`promote` can promote anything

    def __init__(
        self, root: Path, pipeline: Pipeline, previous: Mapping[str, Any] | None
    ) -> None: ...

    @property
    def version(self) -> str | None:
        """The installed tool's version (None for a plain command)."""
        ...

    def plan(self, drift: Drift, snapshot: Snapshot) -> Plan:
        """Which stages are stale and why; runs nothing."""
        ...

    def reproduce(
        self,
        plan: Plan,
        snapshot: Snapshot,
        log: Path,
        *,
        echo: bool | None = None,
        stop: threading.Event | None = None,
    ) -> RunResult:
        """Run what ``plan`` found stale (the tool decides how), output into ``log``.

        A tool that fails, or writes no metrics, gives a result with ``error`` set;
        :class:`seid.reproducers.execute.Interrupted` means the run was stopped.
        """
        ...

    def promote(self, result: RunResult) -> str | None:
        """After a passing gate: point the registry's ``champion`` at what this run made.

        Returns what was promoted, or None when the tool has no registry.
        """
        ...


# tool -> (adapter module, class, distribution to check, extra that installs it)
_ADAPTERS: dict[str, tuple[str, str, str | None]] = {
    "dvc": ("seid.reproducers.dvc", "DvcReproducer", "dvc"),
    "mlflow": ("seid.reproducers.mlflow", "MlflowReproducer", "mlflow"),
    "dagster": ("seid.reproducers.dagster", "DagsterReproducer", "dagster"),
    "command": ("seid.reproducers.command", "CommandReproducer", None),
}


def get_reproducer(tool: str) -> type[Reproducer]:
    """The adapter class for ``tool``; ToolMissingError when the tool is not installed."""
    module, attr, dist = _ADAPTERS[tool]
    if dist is not None and not _installed(dist):
        raise ToolMissingError(tool, dist)
    adapter: type[Reproducer] = getattr(importlib.import_module(module), attr)
    return adapter


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def dist_version(dist: str) -> str | None:
    """A distribution's version from its metadata, without importing it."""
    import importlib.metadata  # costs tens of ms: only when a version is asked for

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def toolless_plan(tool: str, drift: Drift) -> Plan | None:
    """The plan when the tool's answer cannot matter (class A alone re-runs nothing), else None."""
    if drift.classes & RERUN_CLASSES:
        return None
    if drift:
        return Plan(
            tool, note="criteria drift only: nothing re-runs; the last metrics are re-assessed"
        )
    return Plan(tool, note="up to date")


def plan(
    root: Path,
    pipeline: Pipeline,
    previous: Mapping[str, Any] | None,
    drift: Drift,
    snapshot: Snapshot,
) -> Plan:
    """Ask the tool only when its answer matters."""
    quiet = toolless_plan(pipeline.tool, drift)
    if quiet is not None:
        return quiet
    return get_reproducer(pipeline.tool)(root, pipeline, previous).plan(drift, snapshot)


def changed_inputs(drift: Drift, classes: frozenset[str] = RERUN_CLASSES) -> tuple[str, ...]:
    """``"<class> <change> <path>"`` for every changed input of ``classes``, sorted."""
    return tuple(
        f"{cls} {kind} {path}"
        for cls, paths in sorted(drift.changes.items())
        if cls in classes
        for path, kind in sorted(paths.items())
    )


class WholeEntryReproducer:
    """For tools without a stage graph: the one entry is stale on any B or C change."""

    name: ClassVar[str]
    dist: ClassVar[str | None] = None
    registry: ClassVar[bool] = False

    def __init__(self, root: Path, pipeline: Pipeline, previous: Mapping[str, Any] | None) -> None:
        self.root = root
        self.pipeline = pipeline
        self.previous = previous

    @property
    def version(self) -> str | None:
        return dist_version(self.dist) if self.dist else None

    @property
    def entry(self) -> str:
        """The name the plan gives the one unit of work."""
        raise NotImplementedError

    def plan(self, drift: Drift, snapshot: Snapshot) -> Plan:
        reasons = changed_inputs(drift)
        if not reasons:
            return Plan(self.name, cached=(self.entry,))
        return Plan(self.name, stale=(Stage(self.entry, reasons),))
