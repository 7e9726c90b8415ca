"""``--reexecute N``: run the pipeline again at the N newest evidenced commits and compare.

Each commit is checked out into its own temporary ``git worktree`` (the user's work tree,
index and branches are never touched), and the pipeline the manifest *at that commit*
names is run there by the same reproducer ``seid run`` uses (its own process group,
stopped whole on Ctrl-C), from scratch: nothing counts as evidenced in a fresh tree.
The metrics it gives are compared with the observations the commit's newest bundle
recorded. The worktree is removed in every case: success, failure, or interruption.

Declared lakehouse tables are time-travelled: the pipeline is pinned to the versions the
bundle recorded (:mod:`seid.tables.pin`); a version that vacuum or snapshot expiry has
removed makes the commit ``not-reproducible``, named, and nothing is run.

Re-execution is hermetic: an MLflow pipeline logs to a SQLite store inside the worktree,
never to the team's tracking server or registry, and Dagster keeps its instance there
too. DVC stages whose data is only in a DVC remote cannot run offline and fail the
reproduction, which is reported.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from seid import git
from seid.config import Manifest
from seid.config.model import Pipeline
from seid.drift import Drift
from seid.errors import SeidError, ToolMissingError
from seid.metrics_file import Metric, lookup
from seid.replay.findings import NOT_REPRODUCIBLE, Finding
from seid.replay.history import History
from seid.replay.join import Bundle, Evidence
from seid.reproducers.base import get_reproducer
from seid.snapshot import Snapshot
from seid.tables.state import TableSpec

DEFAULT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Compared:
    measure: str
    metric: str
    recorded: float | None
    recomputed: float | None
    within: bool


@dataclass(frozen=True)
class Reproduction:
    """The reproducibility verdict of one commit: reproduced, differs, failed, unsupported,
    or not-reproducible (a table version it stood on was vacuumed or expired)."""

    commit: str
    bundle: str
    status: str
    tolerance: float
    metrics: list[Compared] = field(default_factory=list)
    error: str | None = None


def reexecute(
    root: Path,
    history: History,
    found: Evidence,
    count: int,
    tolerance: float = DEFAULT_TOLERANCE,
) -> list[Reproduction]:
    """Re-run the pipeline at the ``count`` newest evidenced commits, newest first."""
    by_commit = found.by_commit()
    evidenced = [c for c in reversed(history.commits) if c.sha in by_commit][:count]
    out = []
    for commit in evidenced:
        manifest = history.regime_of(commit).manifest
        bundle = by_commit[commit.sha][-1]
        out.append(_one(root, commit.sha, manifest, bundle, tolerance))
    return out


def _one(
    root: Path, sha: str, manifest: Manifest | None, bundle: Bundle, tolerance: float
) -> Reproduction:
    def verdict(status: str, error: str | None = None) -> Reproduction:
        return Reproduction(sha, bundle.ref, status, tolerance, error=error)

    if manifest is None:
        return verdict("unsupported", "no usable manifest at this commit")
    pipeline = _hermetic(manifest.pipeline)
    try:
        adapter = get_reproducer(pipeline.tool)
    except ToolMissingError as err:
        return verdict("unsupported", str(err))
    tables = [t.spec() for t in manifest.inputs.tables] if manifest.inputs else []
    versions, gone = _recorded_tables(root, tables, bundle)
    if gone:
        return verdict("not-reproducible", "; ".join(gone))
    with _worktree(root, sha) as tree, tempfile.TemporaryDirectory() as logs:
        log = Path(logs) / "run.log"
        pins = _time_travel(root, tables, versions, tree)
        snapshot = Snapshot(commit=sha, dirty=False, lock_digest=None, inputs={}, pins=pins)
        try:
            reproducer = adapter(tree, pipeline, None)
            plan = reproducer.plan(Drift(), snapshot)
            result = reproducer.reproduce(plan, snapshot, log, echo=False)
        except SeidError as err:  # the tool could not even start (definitions do not load)
            return verdict("failed", str(err))
        if result.error is not None:
            return verdict("failed", f"{result.error}: {_tail(log)}")
    maybe = (_compare(entry, result.metrics, tolerance) for entry in bundle.verdicts)
    compared = [c for c in maybe if c is not None]
    status = "reproduced" if compared and all(c.within for c in compared) else "differs"
    return Reproduction(sha, bundle.ref, status, tolerance, compared)


def _recorded_tables(
    root: Path, tables: list[TableSpec], bundle: Bundle
) -> tuple[dict[str, int], list[str]]:
    """The table versions the bundle recorded, and those vacuum or expiry removed."""
    if not tables:
        return {}, []
    from seid.tables.pin import recorded_versions

    recorded = bundle.predicate.get("tables")
    return recorded_versions(root, tables, recorded if isinstance(recorded, dict) else {})


def _time_travel(
    root: Path, tables: list[TableSpec], versions: dict[str, int], tree: Path
) -> dict[str, str]:
    """The pipeline in ``tree`` pinned to the recorded versions (tables are not in git:
    their URIs are resolved against the repository itself)."""
    if not tables:
        return {}
    from seid.tables.pin import write_pins

    return write_pins(root, tables, versions, into=tree)


def _hermetic(pipeline: Pipeline) -> Pipeline:
    """The pipeline with every store it writes kept inside the worktree."""
    if pipeline.tool != "mlflow":
        return pipeline
    local = {"tracking_uri": "sqlite:///mlflow.db", "artifact_location": "mlartifacts"}
    return pipeline.model_copy(update=local)


def _compare(
    entry: dict[str, object], metrics: Mapping[str, Metric], tol: float
) -> Compared | None:
    recorded = entry.get("observed")
    if isinstance(recorded, bool) or not isinstance(recorded, int | float):
        return None  # a manual or missing measure: nothing was computed to compare
    measure, metric = str(entry.get("measure")), str(entry.get("metric"))
    found = lookup(metrics, measure, metric)
    recomputed = found.value if found else None
    within = recomputed is not None and math.isclose(
        recomputed, float(recorded), rel_tol=tol, abs_tol=tol
    )
    return Compared(measure, metric, float(recorded), recomputed, within)


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:200] if lines else ""


@contextmanager
def _worktree(root: Path, sha: str) -> Iterator[Path]:
    """A detached worktree at ``sha``, removed however the block ends (also Ctrl-C)."""
    base = Path(tempfile.mkdtemp(prefix="seid-reexecute-"))
    tree = base / "tree"
    git.run(root, "worktree", "add", "--detach", "--quiet", str(tree), sha)
    try:
        yield tree
    finally:
        git.probe(root, "worktree", "remove", "--force", str(tree))
        git.probe(root, "worktree", "prune")
        shutil.rmtree(base, ignore_errors=True)


def unreproducible(reproductions: list[Reproduction]) -> list[Finding]:
    """A ``not-reproducible`` verdict is also a finding: the evidence can no longer be
    checked by running it again."""
    return [
        Finding(
            NOT_REPRODUCIBLE,
            f"commit {r.commit[:12]}: bundle {r.bundle} cannot be re-executed: {r.error}",
            [r.commit],
            [r.bundle],
        )
        for r in reproductions
        if r.status == "not-reproducible"
    ]
