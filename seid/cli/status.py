"""``seid status``: typed drift since the last evidence, and what ``seid run`` would re-run.

Exit status as ``git diff --exit-code``: 0 nothing drifted, 1 something did, 2 an error.
A clean status never imports DVC, MLflow or Dagster: the tool is asked only when treatment
or data drifted, because only then does its answer change what would run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from seid.drift import Detection
    from seid.reproducers.base import Plan

_KIND_WIDTH = 9


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show typed drift (A criteria, B model, C data) since the last evidence bundle.

    Lists the changed paths of each class, the pipeline stages they made stale and what
    `seid run` would re-run. Exit status: 0 nothing drifted, 1 something did, 2 error.
    """
    from seid.config import find_root, load_manifest
    from seid.drift import detect
    from seid.reproducers.base import plan
    from seid.snapshot import class_globs
    from seid.statcache import StatCache

    root = find_root(Path.cwd())
    manifest = load_manifest(root)
    inputs = manifest.resolved_inputs(root)
    globs = class_globs(inputs.criteria, inputs.treatment, inputs.data)
    with StatCache.open(root) as cache:
        found = detect(root, globs, cache)
    base = found.baseline
    the_plan = plan(root, manifest.pipeline, base.predicate, found.drift, found.snapshot)
    if as_json:
        click.echo(json.dumps(as_document(found, the_plan), indent=2, sort_keys=True))
    else:
        click.echo(as_text(found, the_plan))
    ctx.exit(1 if found.drift else 0)


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
        "drift": {**drift.to_predicate(), "changes": changes},
        "plan": the_plan.to_json(),
        "would_run": would_run(found, the_plan),
        "skipped": list(snap.skipped),
    }


def as_text(found: Detection, the_plan: Plan) -> str:
    from seid.drift import class_label

    snap, drift = found.snapshot, found.drift
    where = snap.branch or "detached HEAD"
    commit = (snap.commit or "no commit yet")[:12]
    lines = [f"On {where} at {commit}{' (dirty)' if snap.dirty else ''}"]
    lines.append(f"Compared with {found.baseline.describe()}")
    if not drift:
        lines.append("Up to date: no watched input changed.")
    for cls, paths in drift.paths.items():
        lines.append(f"{class_label(cls)}:")
        lines += [f"  {drift.changes[cls][p]:<{_KIND_WIDTH}} {p}" for p in paths]
    lines += _plan_lines(found, the_plan)
    lines += [f"warning: skipped {item}" for item in snap.skipped]
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
