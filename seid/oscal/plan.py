"""The risk program as an OSCAL assessment plan.

An auditor's tools read OSCAL, not ``sei.yaml``; the plan says, before any run, what
will be assessed and how: each risk is a reviewed control with its analysis (ISO/IEC
23894 6.4.3/6.4.4) recorded as props of a local objective, and each measure is a task
carrying its metric, operator, threshold, enforcement and lifecycle. Manual measures
are declared activities (a person evidences them); post-market measures (lifecycle
``monitoring`` only) sit in their own task group.

The bytes are a function of the manifest and its git history only: UUIDs are uuid5 of
the system name and the ids, timestamps come from the manifest's last commit. So the
same manifest always compiles to the same file and digest, and a changed digest means
a changed plan.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from seid import __version__, git
from seid.config import Manifest, Measure, Risk, Treatment, check_repo_path
from seid.errors import SeidError
from seid.fsutil import repo_output
from seid.isotime import Duration, instant
from seid.oscal.blocks import (
    NAMESPACE,
    Ids,
    Node,
    line,
    listed,
    many,
    metadata,
    node,
    prop,
    reviewed_controls,
    select,
)
from seid.oscal.render import render, write_document
from seid.risk import Analysis, RiskAnalysis, analyze

# Used when the manifest has no git history at all (documented in the plan's props).
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SourceTime:
    """When the plan's content was last decided, and how that was found out."""

    when: datetime
    source: str  # manifest-commit | head-commit | epoch
    commit: str | None
    uncommitted: bool = False  # the manifest differs from what git has


@dataclass(frozen=True)
class CompileResult:
    path: Path
    digest: str
    tasks: int
    pre_market: int
    post_market: int
    activities: int
    risks: int
    timestamp: str
    timestamp_source: str
    commit: str | None
    uncommitted: bool

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path), "digest": f"sha256:{self.digest}"}


def compile_plan(manifest: Manifest, root: Path, out: Path | None = None) -> CompileResult:
    """Write the assessment plan (YAML, or JSON for a ``.json`` path) atomically."""
    target = out if out is not None else plan_path(manifest, root)
    stamp = source_time(root, manifest.path)
    plan = build_plan(manifest, stamp, relative_href(manifest.path, target.parent))
    data = render(plan, json_output=target.suffix.lower() == ".json")
    write_document(target, data)
    measures = [measure for _, measure in manifest.iter_measures()]
    post = sum(measure.post_market for measure in measures)
    return CompileResult(
        path=target,
        digest=hashlib.sha256(data).hexdigest(),
        tasks=len(measures),
        pre_market=len(measures) - post,
        post_market=post,
        activities=sum(measure.evaluation == "manual" for measure in measures),
        risks=len(manifest.risk.risks),
        timestamp=stamp.when.isoformat(),
        timestamp_source=stamp.source,
        commit=stamp.commit,
        uncommitted=stamp.uncommitted,
    )


def build_plan(manifest: Manifest, stamp: SourceTime, manifest_href: str) -> Node:
    """The plan as an OSCAL document: ``{"assessment-plan": ...}``."""
    if not manifest.risk.risks:
        raise SeidError(f"{manifest.path.name}: the risk program has no risks; nothing to compile")
    ids = Ids(manifest.system.name)
    analysis = analyze(manifest.risk)
    plan = node(
        uuid=ids("plan"),
        metadata=_metadata(manifest, stamp),
        # trestle's link check knows only v4 UUIDs, so `trestle validate` warns that this
        # uuid5 resource is unreferenced; the plan is valid all the same.
        import_ssp=node(
            href=f"#{ids('resource', 'manifest')}",
            remarks="No OSCAL SSP: the system and its risk program are described by the "
            "seid manifest in back-matter.",
        ),
        local_definitions=node(
            components=[_component(manifest, ids)],
            objectives_and_methods=[
                _objective(manifest, risk, analysis) for risk in manifest.risk.risks
            ],
            activities=listed(_activity(ids, risk, m) for risk, m in _manual(manifest)),
        ),
        reviewed_controls=reviewed_controls(manifest, analysis.overall_residual),
        assessment_subjects=[_subject(ids)],
        tasks=_task_groups(manifest, ids),
        back_matter=node(resources=[_manifest_resource(manifest, ids, manifest_href)]),
    )
    return {"assessment-plan": plan}


def source_time(root: Path, manifest: Path) -> SourceTime:
    """The manifest's last commit, else HEAD's, else :data:`EPOCH` (no history)."""
    for paths, source in ((["--", str(manifest)], "manifest-commit"), ([], "head-commit")):
        fields = (git.probe(root, "log", "-1", "--format=%H %cI", *paths) or "").split()
        if len(fields) == 2:
            when = instant(fields[1]) or EPOCH
            status = git.probe(root, "status", "--porcelain", "--", str(manifest))
            return SourceTime(when, source, fields[0], uncommitted=bool(status))
    return SourceTime(EPOCH, "epoch", None, uncommitted=True)


# --- inputs --------------------------------------------------------------------------


def plan_path(manifest: Manifest, root: Path) -> Path:
    """Where the plan goes. The manifest loader placed any error already; checked again
    here, at the write, because a symlink may have changed since."""
    try:
        return repo_output(root, check_repo_path(manifest.oscal.assessment_plan))
    except ValueError as exc:
        raise SeidError(f"{manifest.path}: oscal.assessment_plan: {exc}") from None


def relative_href(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def _manual(manifest: Manifest) -> Iterator[tuple[Risk, Measure]]:
    return ((r, m) for r, m in manifest.iter_measures() if m.evaluation == "manual")


# --- the plan's parts ----------------------------------------------------------------


def _metadata(manifest: Manifest, stamp: SourceTime) -> Node:
    props = [
        prop("generator", f"seid {__version__}"),
        prop("manifest", manifest.path.name),
        prop("manifest-digest", f"sha256:{manifest.manifest_digest}"),
        prop("timestamp-source", stamp.source),
        prop("source-commit", stamp.commit),
        prop("manifest-uncommitted", "true" if stamp.uncommitted else None),
    ]
    return metadata(
        manifest, "Assessment plan", stamp.when, props, remarks=manifest.system.intended_purpose
    )


def _component(manifest: Manifest, ids: Ids) -> Node:
    system, task = manifest.system, manifest.task
    tier = manifest.classification.tier if manifest.classification else None
    standards = manifest.context.applicable_standards if manifest.context else []
    return node(
        uuid=ids("component"),
        type="software",
        title=line(system.name) or "unnamed system",
        description=system.intended_purpose or f"The ML system {system.name}.",
        props=listed(
            [
                prop("organization", system.organization),
                prop("component-type", system.component_type),
                prop("classification-tier", tier),
                prop("task-modality", task.modality if task else None),
                prop("task-type", task.type if task else None),
                prop("pipeline-tool", manifest.pipeline.tool),
                *many("decision", system.decisions),
                *many("affected-persons", system.affected_persons),
                *many("applicable-standard", standards),
            ]
        ),
        status=node(state="operational"),
    )


def _subject(ids: Ids) -> Node:
    return node(
        type="component",
        include_subjects=[node(subject_uuid=ids("component"), type="component")],
    )


def _objective(manifest: Manifest, risk: Risk, analysis: Analysis) -> Node:
    """A risk as the objective of its control, with its analysis as props."""
    result = next(item for item in analysis.risks if item.risk_id == risk.id)
    misuses = [m.id for m in manifest.system.potential_misuses if risk.id in m.addressed_by]
    return node(
        control_id=risk.id,
        description=line(risk.title or risk.id),
        props=listed(
            [prop("domain", risk.domain), *_analysis_props(result), *many("misuse", misuses)]
        ),
        parts=[
            node(name="objective", prose=risk.rationale or risk.title or risk.id),
            *(_treatment_part(treatment) for treatment in risk.treat),
        ],
    )


def _analysis_props(result: RiskAnalysis) -> list[Node | None]:
    props = [
        prop("likelihood", result.likelihood),
        prop("residual-likelihood", result.residual_likelihood),
        prop("inherent-overall", result.inherent_overall),
        prop("residual-overall", result.residual_overall),
        prop("requires-treatment", str(result.requires_treatment).lower()),
    ]
    for dim in result.dimensions:
        props += [
            prop("impact", dim.impact, group=dim.dimension),
            prop("appetite", dim.appetite, group=dim.dimension),
            prop("inherent-level", dim.inherent_level, group=dim.dimension),
            prop("inherent-evaluation", dim.inherent_eval, group=dim.dimension),
            prop("residual-level", dim.residual_level, group=dim.dimension),
            prop("residual-evaluation", dim.residual_eval, group=dim.dimension),
        ]
    return props


def _treatment_part(treatment: Treatment) -> Node:
    lines = [treatment.action or "", *(f"- {control}" for control in treatment.controls)]
    return node(
        name="treatment",
        ns=NAMESPACE,
        title=line(f"{treatment.method.value}: {treatment.action or 'no action given'}"),
        props=listed(
            [
                prop("method", treatment.method),
                prop("residual-likelihood", treatment.residual_likelihood),
                *many("measure-id", (m.id for m in treatment.measures)),
            ]
        ),
        prose="\n".join(text for text in lines if text) or None,
    )


def _activity(ids: Ids, risk: Risk, measure: Measure) -> Node:
    """A manual measure: declared here, evidenced by a person, never computed by seid."""
    return node(
        uuid=ids("activity", measure.id),
        title=line(f"Manual evaluation: {measure.id}"),
        description=f"A person establishes {measure.metric} and records whether it meets "
        f"{measure.constraint}, with the evidence it rests on.",
        props=listed([prop("risk-id", risk.id), prop("measure-id", measure.id)]),
        steps=[
            node(
                uuid=ids("activity", measure.id, "record"),
                description=f"Record the observed {measure.metric} and who established it.",
            )
        ],
        related_controls=node(control_selections=[select([risk.id])]),
    )


def _task_groups(manifest: Manifest, ids: Ids) -> list[Node] | None:
    """Pre-market measures and post-market monitoring, as two groups of tasks."""
    groups = [
        ("pre-market", "Pre-market assessment", False),
        ("post-market", "Post-market monitoring (EU AI Act art. 72)", True),
    ]
    subject = _subject(ids)  # one object, written once per task
    tasks = []
    for phase, title, post in groups:
        members = [
            _task(ids, subject, treatment, risk, measure)
            for risk in manifest.risk.risks
            for treatment in risk.treat
            for measure in treatment.measures
            if measure.post_market is post
        ]
        if members:
            tasks.append(
                node(
                    uuid=ids("task-group", phase),
                    type="milestone",
                    title=title,
                    props=[node(name="market-phase", ns=NAMESPACE, value=phase)],
                    tasks=members,
                )
            )
    return tasks or None


def _task(ids: Ids, subject: Node, treatment: Treatment, risk: Risk, measure: Measure) -> Node:
    activity = (
        [node(activity_uuid=ids("activity", measure.id), subjects=[subject])]
        if measure.evaluation == "manual"
        else None
    )
    return node(
        uuid=ids("measure", measure.id),
        type="action",
        title=line(f"{measure.id}: {measure.metric} {measure.constraint}"),
        description=f"Check that {measure.metric} {measure.constraint} for risk {risk.id} "
        f"({measure.enforcement}, {measure.evaluation}).",
        props=listed(_measure_props(treatment, risk, measure)),
        timing=_timing(measure.frequency),
        associated_activities=activity,
        subjects=[subject],
    )


def _measure_props(treatment: Treatment, risk: Risk, m: Measure) -> list[Node | None]:
    return [
        prop("risk-id", risk.id),
        prop("measure-id", m.id),
        prop("metric", m.metric),
        prop("operator", m.constraint.comparator),
        prop("threshold", repr(m.constraint.threshold)),
        prop("severity", m.severity),
        prop("enforcement", m.enforcement),
        prop("evaluation", m.evaluation),
        *many("lifecycle-phase", m.lifecycle),
        prop("market-phase", "post-market" if m.post_market else "pre-market"),
        prop("treatment-method", treatment.method),
        prop("article", m.article),
        *many("standard-clause", m.standard_clauses),
        *many("framework", m.frameworks),
        prop("control-tier", m.control_tier),
        prop("trigger", m.trigger),
        prop("frequency", m.frequency),
        prop("metric-threshold", None if m.metric_threshold is None else str(m.metric_threshold)),
        prop("art72-citation", m.art72_citation),
        *many("input", (f"{name}={value}" for name, value in sorted(m.inputs.items()))),
    ]


def _timing(duration: str | None) -> Node | None:
    """``P1M`` -> every 1 month; a duration of mixed units stays a prop only."""
    every = Duration.parse(duration).every() if duration else None
    return None if every is None else node(at_frequency=node(period=every[0], unit=every[1]))


def _manifest_resource(manifest: Manifest, ids: Ids, href: str) -> Node:
    return node(
        uuid=ids("resource", "manifest"),
        title=line(f"seid manifest {manifest.path.name}"),
        description="The risk program this plan was compiled from.",
        rlinks=[
            node(
                href=href,
                media_type="application/yaml",
                hashes=[node(algorithm="SHA-256", value=manifest.manifest_digest)],
            )
        ],
    )
