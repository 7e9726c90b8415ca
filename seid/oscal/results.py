"""One run as an OSCAL assessment-results document, beside the compiled plan.

The plan (``seid compile``) says before any run what will be assessed; the results say
what one run observed. Each judged measure is an observation of its plan task, each
risk a finding on its objective, satisfied only when its gate measures passed; the
signed bundle in the ledger is the relevant evidence of every one. The verdict of
record stays the bundle: this document is its projection for OSCAL tools. UUIDs are
uuid5 of the system, the ledger entry and the ids, so one bundle gives one document.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from seid import __version__
from seid.assess import Assessment, MeasureVerdict
from seid.config import Manifest
from seid.oscal.blocks import (
    Ids,
    Node,
    instant,
    line,
    listed,
    metadata,
    node,
    prop,
    reviewed_controls,
)
from seid.oscal.plan import compile_plan, plan_path, relative_href
from seid.oscal.render import render, write_document
from seid.risk import analyze

RESULTS_NAME = "assessment_results.oscal"


@dataclass(frozen=True)
class RunOutcome:
    """What the document states: the run's window, its verdicts and its ledger entry."""

    assessment: Assessment
    gate: str
    started: datetime
    finished: datetime
    log_id: str
    index: int
    entry_sha256: str
    error: str | None = None


def write_results(root: Path, manifest: Manifest, outcome: RunOutcome) -> Path:
    """Write the results beside the plan (compiled first when absent, so the link holds)."""
    plan = plan_path(manifest, root)
    if not plan.is_file():
        compile_plan(manifest, root)
    suffix = ".json" if plan.suffix.lower() == ".json" else ".yaml"
    target = plan.with_name(RESULTS_NAME + suffix)
    document = build_results(manifest, outcome, relative_href(plan, target.parent))
    write_document(target, render(document, json_output=suffix == ".json"))
    return target


def build_results(manifest: Manifest, outcome: RunOutcome, plan_href: str) -> Node:
    """The document: ``{"assessment-results": ...}``."""
    ids = Ids(manifest.system.name)
    entry = (outcome.log_id, str(outcome.index))
    props = [
        prop("generator", f"seid {__version__}"),
        prop("manifest-digest", f"sha256:{manifest.manifest_digest}"),
        prop("gate", outcome.gate),
        prop("ledger-log", outcome.log_id),
        prop("ledger-index", outcome.index),
        prop("entry-sha256", outcome.entry_sha256),
    ]
    results = node(
        uuid=ids("results", *entry),
        metadata=metadata(manifest, "Assessment results", outcome.finished, props),
        import_ap=node(href=plan_href),
        results=[_result(manifest, outcome, ids, entry)],
    )
    return {"assessment-results": results}


def _result(manifest: Manifest, outcome: RunOutcome, ids: Ids, entry: tuple[str, str]) -> Node:
    evidence = node(
        description=f"Signed evidence bundle: entry {outcome.index} of ledger log "
        f"{outcome.log_id} (DSSE envelope, sha256 {outcome.entry_sha256}); "
        "`seid verify` checks it.",
    )
    verdicts = outcome.assessment.verdicts
    observations = [_observation(ids, entry, v, outcome, evidence) for v in verdicts]
    findings = [
        _finding(ids, entry, risk.id, [v for v in verdicts if v.risk == risk.id], outcome)
        for risk in manifest.risk.risks
    ]
    error = f" The pipeline failed: {outcome.error}" if outcome.error else ""
    return node(
        uuid=ids("result", *entry),
        title=line(f"seid run: release gate {outcome.gate}"),
        description=f"Measures of the risk program judged against this run's metrics; "
        f"gate {outcome.gate}.{error}",
        start=instant(outcome.started),
        end=instant(outcome.finished),
        reviewed_controls=reviewed_controls(manifest, analyze(manifest.risk).overall_residual),
        observations=listed(observations),
        findings=listed(findings),
    )


def _observation(
    ids: Ids,
    entry: tuple[str, str],
    verdict: MeasureVerdict,
    outcome: RunOutcome,
    evidence: Node,
) -> Node:
    observed = verdict.observed
    shown = "not observed" if observed is None else f"{observed.value:.6g}"
    return node(
        uuid=ids("observation", *entry, verdict.measure),
        title=line(f"{verdict.measure}: {verdict.metric} {shown}, {verdict.verdict}"),
        description=f"{verdict.metric} {shown} against {verdict.constraint} "
        f"({verdict.enforcement}): {verdict.verdict}.",
        props=listed(
            [
                prop("risk-id", verdict.risk),
                prop("measure-id", verdict.measure),
                prop("plan-task", ids("measure", verdict.measure)),
                prop("constraint", verdict.constraint),
                prop("enforcement", verdict.enforcement),
                prop("verdict", verdict.verdict),
                *_interval(verdict),
            ]
        ),
        methods=["EXAMINE" if verdict.verdict == "declared" else "TEST"],
        types=["control-objective"],
        relevant_evidence=[evidence],
        collected=instant(outcome.finished),
    )


def _interval(verdict: MeasureVerdict) -> Iterable[Node | None]:
    observed = verdict.observed
    if observed is None:
        return []
    return [
        prop("observed", observed.value),
        prop("ci-low", observed.ci_low),
        prop("ci-high", observed.ci_high),
        prop("ci-level", observed.ci_level),
        prop("sample-size", observed.n),
    ]


def _finding(
    ids: Ids,
    entry: tuple[str, str],
    risk_id: str,
    verdicts: list[MeasureVerdict],
    outcome: RunOutcome,
) -> Node:
    confirmed = outcome.error is None and outcome.assessment.gate_measures_passed(risk_id)
    state = "satisfied" if confirmed else "not-satisfied"
    reason = "pass" if confirmed else ("other" if outcome.error else "fail")
    related = [node(observation_uuid=ids("observation", *entry, v.measure)) for v in verdicts]
    return node(
        uuid=ids("finding", *entry, risk_id),
        title=line(f"Risk {risk_id}: control {'confirmed' if confirmed else 'not confirmed'}"),
        description=f"The gate measures of risk {risk_id} "
        f"{'all passed' if confirmed else 'did not all pass'} in this run.",
        target=node(
            type="objective-id",
            target_id=risk_id,
            status=node(state=state, reason=reason),
        ),
        related_observations=listed(related),
    )
