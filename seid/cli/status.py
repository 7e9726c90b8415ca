"""``seid status``: typed drift since the last evidence, and what ``seid run`` would re-run.

Exit status as ``git diff --exit-code``: 0 nothing drifted, 1 something did (or nothing
is evidenced yet: a run is due either way), 2 an error.
A clean status never imports DVC, MLflow or Dagster: the tool is asked only when treatment
or data drifted, because only then does its answer change what would run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from seid.locate import find_root, manifest_path

if TYPE_CHECKING:
    from seid.approvals.standing import Standing
    from seid.config import Manifest
    from seid.drift import Detection
    from seid.reproducers.base import Plan
    from seid.snapshot import DriftClass
    from seid.statcache import StatCache
    from seid.tables.state import TableSpec

_KIND_WIDTH = 9


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show typed drift (A criteria, B model, C data) since the last evidence bundle.

    Lists the changed paths of each class, the pipeline stages they made stale and what
    `seid run` would re-run, and the approval state (draft, approval_requested,
    approved, rejected, review_due, superseded). Exit status: 0 nothing drifted, 1
    something did or no evidence exists yet (a run is due), 2 error.
    """
    from seid.approvals.standing import standing
    from seid.drift import detect
    from seid.reproducers.base import plan, toolless_plan
    from seid.statcache import StatCache

    root = find_root(Path.cwd())
    with StatCache.open(root) as cache:
        watch = load_watch(root, cache)
        found = detect(root, watch.globs, cache, tables=watch.table_specs())
        approval = standing(root, found.snapshot.commit, cache)
    the_plan = toolless_plan(watch.tool, found.drift)
    if the_plan is None:
        manifest = watch.manifest or _load_manifest(root)
        previous = found.baseline.predicate
        the_plan = plan(root, manifest.pipeline, previous, found.drift, found.snapshot)
    if as_json:
        doc = as_document(found, the_plan) | {"approval": approval.to_json()}
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
    else:
        click.echo(as_text(found, the_plan, approval))
    ctx.exit(1 if run_due(found) else 0)


# The watch list (globs by class) is derived from sei.yaml by seid.config, whose pydantic
# models cost more to import than a whole warm status. It is kept in the stat cache,
# keyed by the bytes of the files the derivation reads (the manifest and dvc.yaml) and
# checked against the filesystem facts it depends on (whether a dvc dep is a directory,
# whether a command argument is a file); any difference and the manifest is loaded again.
_WATCH_KEY = "watch/v1"
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Watch:
    tool: str
    globs: dict[DriftClass, list[str]]
    manifest: Manifest | None = None
    tables: tuple[dict[str, Any], ...] = ()  # inputs.tables as declared

    def table_specs(self) -> list[TableSpec]:
        """The declared tables, rebuilt from the cache without pydantic."""
        if not self.tables:
            return []
        from seid.tables.state import TableSpec

        return [TableSpec.from_json(table) for table in self.tables]


def load_watch(root: Path, cache: StatCache) -> Watch:
    """The watched globs by class: from the cache when still valid, else from sei.yaml."""
    from seid.snapshot import class_globs

    key = _fingerprint(root)
    raw = cache.get_meta(_WATCH_KEY)
    if raw is not None:
        doc = json.loads(raw)
        facts: dict[str, str] = doc["facts"]
        if doc["key"] == key and all(_kind(root / p) == k for p, k in facts.items()):
            return Watch(doc["tool"], doc["globs"], tables=tuple(doc.get("tables", ())))
    manifest = _load_manifest(root)
    inputs = manifest.resolved_inputs(root)
    globs = class_globs(inputs)
    paths = _fact_paths(globs, manifest.pipeline.command or [])
    tables = tuple(t.spec().to_json() for t in inputs.tables)
    doc = {
        "key": key,
        "tool": manifest.pipeline.tool,
        "globs": globs,
        "facts": {p: _kind(root / p) for p in paths},
        "tables": tables,
    }
    cache.put_meta(_WATCH_KEY, json.dumps(doc, sort_keys=True))
    return Watch(manifest.pipeline.tool, globs, manifest, tables)


def _load_manifest(root: Path) -> Manifest:
    from seid.config import load_manifest

    return load_manifest(root)


def _fingerprint(root: Path) -> str:
    h = hashlib.sha256()
    for name in (manifest_path(root).name, "dvc.yaml"):
        path = root / name
        h.update(name.encode() + b"\0")
        h.update(path.read_bytes() if path.is_file() else b"\xff(absent)")
    return h.hexdigest()


def _fact_paths(globs: dict[DriftClass, list[str]], command: list[str]) -> set[str]:
    literal = {g.removesuffix("/**") for gs in globs.values() for g in gs}
    literal |= {a for a in command if a and not a.startswith(("-", "/"))}
    return {p for p in literal if not _GLOB_CHARS & set(p) and ".." not in p.split("/")}


def _kind(path: Path) -> str:
    return "dir" if path.is_dir() else "file" if path.is_file() else "none"


def run_due(found: Detection) -> bool:
    """Something drifted, or nothing is evidenced yet: either way ``seid run`` has work."""
    return bool(found.drift) or not found.baseline.evidenced


def would_run(found: Detection, the_plan: Plan) -> list[str]:
    return [stage.name for stage in the_plan.stale] if found.drift else []


def as_document(found: Detection, the_plan: Plan) -> dict[str, Any]:
    """The status as JSON: stable keys, for scripts and the daemon's health endpoint."""
    snap, drift = found.snapshot, found.drift
    changes = {cls: dict(paths) for cls, paths in drift.changes.items()}
    return {
        "commit": snap.commit,
        "branch": snap.branch,
        "dirty": snap.dirty,
        "lock_digest": snap.lock_digest,
        "baseline": {"source": found.baseline.source, "commit": found.baseline.commit},
        "evidenced": found.baseline.evidenced,
        "run_due": run_due(found),
        "untrusted_logs": list(found.baseline.untrusted),
        "drift": {**drift.to_predicate(), "changes": changes},
        "plan": the_plan.to_json(),
        "would_run": would_run(found, the_plan),
        "skipped": list(snap.skipped),
        "tables": _tables_document(found),
    }


def _tables_document(found: Detection) -> dict[str, Any]:
    """Each declared table's state now, and how those that moved did."""
    if found.tables is None:
        return {}
    changes = {c.state.name: c.to_json() for c in found.tables.changes}
    return {
        name: {**state.to_json(), "change": changes.get(name)}
        for name, state in sorted(found.tables.states.items())
    }


def as_text(found: Detection, the_plan: Plan, approval: Standing) -> str:
    from seid.drift import class_label

    snap, drift = found.snapshot, found.drift
    where = snap.branch or "detached HEAD"
    commit = (snap.commit or "no commit yet")[:12]
    lines = [f"On {where} at {commit}{' (dirty)' if snap.dirty else ''}"]
    lines.append(f"Compared with {found.baseline.describe()}")
    lines.append(approval.describe())
    if not found.baseline.evidenced:
        lines.append(
            "No evidence yet: `seid run` runs the whole pipeline and attests the first "
            "bundle, the baseline later changes are compared with."
        )
    elif not drift:
        lines.append("Up to date: no watched input changed.")
    for cls, paths in drift.paths.items():
        lines.append(f"{class_label(cls)}:")
        lines += [f"  {drift.changes[cls][p]:<{_KIND_WIDTH}} {p}" for p in paths]
    if found.tables is not None and found.tables.changes:
        lines.append("Tables:")
        lines += [f"  {change.describe()}" for change in found.tables.changes]
    lines += _plan_lines(found, the_plan)
    lines += [f"warning: skipped {item}" for item in snap.skipped]
    lines += [
        f"warning: log {log_id[:16]} is signed by a key not in .sei/trust/; its entries do "
        "not count (`seid trust add KEY.pub` if it is yours)"
        for log_id in found.baseline.untrusted
    ]
    return "\n".join(lines)


def _plan_lines(found: Detection, the_plan: Plan) -> list[str]:
    if not found.drift:
        return []
    lines = []
    if the_plan.stale:
        lines.append(f"Stale ({the_plan.tool}):")
        for stage in the_plan.stale:
            lines.append(f"  {stage.name}")
            lines += [f"    {reason}" for reason in stage.reasons]
    if the_plan.cached:
        lines.append(f"Cached ({the_plan.tool}): {', '.join(the_plan.cached)}")
    if the_plan.note:
        lines.append(f"Note: {the_plan.note}")
    run = would_run(found, the_plan)
    lines.append(f"seid run would re-run: {', '.join(run) if run else 'nothing'}")
    return lines
