"""``seid run``: the chain once, attested. Exit 0 gate pass, 1 gate not passing, 2 error."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from seid.run import RunReport

_ERROR_PREFIX = re.compile(r"^(?:error|fatal)\s*:\s*", re.IGNORECASE)


@click.command()
@click.option("--force", is_flag=True, help="Re-run and attest even when nothing drifted.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Signing key (default: $SEID_SIGNING_KEY, the systemd credential, ~/.config/seid).",
)
@click.option(
    "--oscal-results",
    is_flag=True,
    help="Also write the run as an OSCAL assessment-results document beside the plan.",
)
@click.pass_context
def run(
    ctx: click.Context, force: bool, as_json: bool, key: Path | None, oscal_results: bool
) -> None:
    """Re-run what drifted through the pipeline tool, assess it, and attest the result.

    Class A drift alone re-runs nothing: the last bundle's metrics are re-assessed
    against the new criteria. The tool's output goes to a log under .sei/logs/.
    """
    from seid.config import find_root
    from seid.keys import load_signer
    from seid.run import run as run_chain

    root = find_root(Path.cwd())
    signer = load_signer(key)
    echo = None if not as_json else False
    report = run_chain(root, signer, force=force, echo=echo, oscal_results=oscal_results)
    if as_json:
        click.echo(json.dumps(report.to_dict(Path.cwd()), indent=2, sort_keys=True))
    else:
        click.echo(as_text(report))
    ctx.exit(report.exit_code)


def as_text(report: RunReport) -> str:
    """A short human account: ran/skipped, the verdict table, the gate, where it went."""
    if report.status == "up-to-date":
        return "\n".join(["up to date: nothing drifted since the last evidence", *_tables(report)])
    if report.status == "failed-before":
        pipeline = (report.detection.baseline.predicate or {}).get("pipeline") or {}
        error = ": ".join(
            [pipeline.get("error") or "gate error", *pipeline.get("error_lines", [])[-1:]]
        )
        return (
            f"nothing drifted since the last run, which failed ({error}); "
            "fix the cause, then retry with `seid run --force`"
        )
    lines = []
    drift = report.detection.drift
    why = "forced" if report.detection.baseline.evidenced else "the first evidence: the baseline"
    classes = ", ".join(sorted(drift.classes)) or f"none ({why})"
    lines.append(f"drift: {classes}")
    lines += _tables(report)
    result = report.result
    if result is not None:
        if result.details.get("reassessed"):
            lines.append("ran: nothing (criteria drift only; last metrics re-assessed)")
        else:
            lines.append(f"ran: {', '.join(result.stages_run) or '-'}")
            lines.append(f"skipped: {', '.join(result.stages_skipped) or '-'}")
        if result.error:
            lines.append(f"error: {result.error}")
            lines += [f"  {line}" for line in _not_in(result.error_lines, result.error)]
        if result.log_path is not None:
            lines.append(f"log: {result.log_path}")
    if report.assessment is not None and report.assessment.verdicts:
        lines.append("")
        lines.append(f"{'measure':<24} {'observed':>10}  {'constraint':<12} {'kind':<6} verdict")
        for v in report.assessment.verdicts:
            observed = "-" if v.observed is None else f"{v.observed.value:.4g}"
            constraint = str(v.constraint)
            lines.append(
                f"{v.measure:<24} {observed:>10}  {constraint:<12} {v.enforcement:<6} {v.verdict}"
            )
        lines.append("")
    lines.append(f"gate: {report.gate}")
    if report.promoted:
        lines.append(f"promoted: {report.promoted}")
    if report.awaiting_approval:
        lines.append(
            "not promoted: the approval policy holds it "
            "(seid approve request, a grant, then seid promote)"
        )
    if report.attestation is not None:
        att = report.attestation
        lines.append(f"attested: entry {att.index} of log {att.log_id[:16]}")
    if report.oscal_results is not None:
        lines.append(f"OSCAL results: {report.oscal_results}")
    if report.follow_up:
        lines.append(
            f"changed during the run (a follow-up run is needed): {', '.join(report.follow_up)}"
        )
    return "\n".join(lines)


def _tables(report: RunReport) -> list[str]:
    """How each moved table moved, and the versions the pipeline was pinned to."""
    tables = report.detection.tables
    if tables is None:
        return []
    lines = [f"table {change.describe()}" for change in tables.changes]
    if report.status == "attested":
        pinned = ", ".join(f"{s.name} {s.label()}" for _, s in sorted(tables.states.items()))
        lines.append(f"tables pinned: {pinned}")
    return lines


def _not_in(tool_lines: tuple[str, ...], error: str) -> list[str]:
    """The tool's error lines that add to ``error`` (DVC's reason may already be it)."""
    return [line for line in tool_lines if _ERROR_PREFIX.sub("", line) not in error]
