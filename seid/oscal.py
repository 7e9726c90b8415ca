"""The risk program as an OSCAL assessment plan, built with compliance-trestle's models.

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
import io
import json
import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError
from trestle.core.base_model import OscalBaseModel
from trestle.oscal import OSCAL_VERSION
from trestle.oscal import common as oc
from trestle.oscal.assessment_plan import AssessmentPlan, LocalDefinitions

from seid import __version__
from seid.config import Manifest, Measure, Risk, Treatment, check_repo_path
from seid.errors import SeidError
from seid.fsutil import repo_output, write_atomic
from seid.risk import Analysis, OverallResidual, RiskAnalysis, analyze

NAMESPACE: Final = "https://seid.dev/ns/oscal"
_UUID_NS: Final = uuid.uuid5(uuid.NAMESPACE_URL, NAMESPACE)
# Used when the manifest has no git history at all (documented in the plan's props).
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SINGLE_UNIT = re.compile(r"P(\d+)([YMWD])|PT(\d+)([HMS])")
_DATE_UNITS = {"Y": "years", "M": "months", "D": "days"}
_TIME_UNITS = {"H": "hours", "M": "minutes", "S": "seconds"}


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


def build_plan(manifest: Manifest, stamp: SourceTime, manifest_href: str) -> AssessmentPlan:
    """The plan as trestle models; pydantic validates every field as it is built."""
    if not manifest.risk.risks:
        raise SeidError(f"{manifest.path.name}: the risk program has no risks; nothing to compile")
    try:
        return _plan(manifest, stamp, manifest_href)
    except ValidationError as exc:  # a value OSCAL cannot carry: say which, not a traceback
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise SeidError(
            f"{manifest.path.name}: cannot express in OSCAL ({exc.title} {where}): {first['msg']}"
        ) from None


def _plan(manifest: Manifest, stamp: SourceTime, manifest_href: str) -> AssessmentPlan:
    ids = Ids(manifest.system.name)
    analysis = analyze(manifest.risk)
    return AssessmentPlan(
        uuid=ids("plan"),
        metadata=_metadata(manifest, stamp),
        # trestle's link check knows only v4 UUIDs, so `trestle validate` warns that this
        # uuid5 resource is unreferenced; the plan is valid all the same.
        import_ssp=oc.ImportSsp(
            href=f"#{ids('resource', 'manifest')}",
            remarks="No OSCAL SSP: the system and its risk program are described by the "
            "seid manifest in back-matter.",
        ),
        local_definitions=LocalDefinitions(
            components=[_component(manifest, ids)],
            objectives_and_methods=[
                _objective(manifest, risk, analysis) for risk in manifest.risk.risks
            ],
            activities=listed(_activity(ids, risk, m) for risk, m in _manual(manifest)),
        ),
        reviewed_controls=reviewed_controls(manifest, analysis.overall_residual),
        assessment_subjects=[_subject(ids)],
        tasks=_task_groups(manifest, ids),
        back_matter=oc.BackMatter(resources=[_manifest_resource(manifest, ids, manifest_href)]),
    )


def render(model: OscalBaseModel, *, json_output: bool = False) -> bytes:
    """Deterministic bytes: field order as OSCAL declares it, no line wrapping.

    The YAML is written event by event straight into libyaml's emitter (where PyYAML
    has it), never as a node graph: a plan of 10,000 tasks is a million nodes, which
    PyYAML's representer and pure-Python emitter took half a minute and 600 MB to write.
    The events are the ones ``yaml.dump`` with :class:`Dumper` emits, so the bytes are
    the same (a test holds the two to each other).
    """
    document = model.oscal_dict()
    if json_output:
        return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    out = io.StringIO()
    emitter = _EMITTER(out, allow_unicode=True, width=1 << 16)
    emit = emitter.emit
    emit(yaml.StreamStartEvent())
    emit(yaml.DocumentStartEvent(explicit=False))
    _emit(document, emit, {})
    emit(yaml.DocumentEndEvent(explicit=False))
    emit(yaml.StreamEndEvent())
    emitter.dispose()
    return out.getvalue().encode("utf-8")


_EMITTER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_STR = "tag:yaml.org,2002:str"


class Dumper(yaml.SafeDumper):
    """Multi-line prose as literal blocks, as a person would write it: the dumper whose
    output :func:`render` reproduces event by event."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar(_STR, value, style=style)


Dumper.add_representer(str, _str)
_RESOLVER: Any = yaml.resolver.Resolver()
_SCALARS: Any = yaml.SafeDumper(io.StringIO())  # a non-string scalar, as dump writes it
_RESOLVED_FIRST = frozenset(_RESOLVER.yaml_implicit_resolvers)


def _emit(value: Any, emit: Callable[[yaml.Event], None], plain: dict[str, bool]) -> None:
    """The events of ``value``, depth first; ``plain`` remembers which strings may be
    written plain (keys and enum values repeat thousands of times)."""
    if isinstance(value, str):
        ok = plain.get(value)
        if ok is None:
            ok = value[:1] not in _RESOLVED_FIRST or (  # "" resolves too: as null
                _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR
            )
            if len(plain) < 100_000:
                plain[value] = ok
        style = "|" if "\n" in value else None
        emit(yaml.ScalarEvent(None, _STR, (ok, True), value, style=style))
    elif isinstance(value, dict):
        emit(yaml.MappingStartEvent(None, None, True, flow_style=False))
        for key, item in value.items():
            _emit(key, emit, plain)
            _emit(item, emit, plain)
        emit(yaml.MappingEndEvent())
    elif isinstance(value, list):
        emit(yaml.SequenceStartEvent(None, None, True, flow_style=False))
        for item in value:
            _emit(item, emit, plain)
        emit(yaml.SequenceEndEvent())
    else:
        node = _SCALARS.represent_data(value)
        implicit = (
            node.tag == _RESOLVER.resolve(yaml.ScalarNode, node.value, (True, False)),
            node.tag == _RESOLVER.resolve(yaml.ScalarNode, node.value, (False, True)),
        )
        emit(yaml.ScalarEvent(None, node.tag, implicit, node.value, style=node.style))


def source_time(root: Path, manifest: Path) -> SourceTime:
    """The manifest's last commit, else HEAD's, else :data:`EPOCH` (no history)."""
    for paths, source in ((["--", str(manifest)], "manifest-commit"), ([], "head-commit")):
        fields = (_git(root, ["log", "-1", "--format=%H %cI", *paths]) or "").split()
        if len(fields) == 2:
            when = datetime.fromisoformat(fields[1]).astimezone(UTC)
            status = _git(root, ["status", "--porcelain", "--", str(manifest)])
            return SourceTime(when, source, fields[0], uncommitted=bool(status))
    return SourceTime(EPOCH, "epoch", None, uncommitted=True)


def write_document(path: Path, data: bytes) -> None:
    """Write an OSCAL document atomically: never half a document."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError as exc:
        raise SeidError(f"cannot write {path}: {exc.strerror or exc}") from None


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


def _git(root: Path, args: list[str]) -> str | None:
    """git's stdout, or None when git is missing or fails (no repository, no commits)."""
    try:
        proc = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _manual(manifest: Manifest) -> Iterator[tuple[Risk, Measure]]:
    return ((r, m) for r, m in manifest.iter_measures() if m.evaluation == "manual")


# --- building blocks -----------------------------------------------------------------


class Ids:
    """uuid5 of the system name and a path of ids: stable across compiles and hosts."""

    def __init__(self, system: str) -> None:
        self.system = system

    def __call__(self, *parts: str) -> str:
        return str(uuid.uuid5(_UUID_NS, "\x1f".join((self.system, *parts))))


def line(value: object) -> str:
    """One line, no edge whitespace: what OSCAL titles and prop values allow."""
    return " ".join(str(value).split())


def prop(name: str, value: object, *, group: str | None = None) -> oc.Property | None:
    if value is None or line(value) == "":
        return None
    return oc.Property(name=name, value=line(value), ns=NAMESPACE, group=group)


def listed(items: Iterable[Any]) -> list[Any] | None:
    """OSCAL lists are absent, never empty."""
    found = [item for item in items if item is not None]
    return found or None


def _many(name: str, values: Iterable[object]) -> list[oc.Property | None]:
    return [prop(name, value) for value in values]


def _metadata(manifest: Manifest, stamp: SourceTime) -> oc.Metadata:
    system = manifest.system
    return oc.Metadata(
        title=line(f"Assessment plan: {system.name}"),
        last_modified=stamp.when,
        version=line(system.version or "") or "unversioned",
        oscal_version=OSCAL_VERSION,
        props=listed(
            [
                prop("generator", f"seid {__version__}"),
                prop("manifest", manifest.path.name),
                prop("manifest-digest", f"sha256:{manifest.manifest_digest}"),
                prop("timestamp-source", stamp.source),
                prop("source-commit", stamp.commit),
                prop("manifest-uncommitted", "true" if stamp.uncommitted else None),
            ]
        ),
        remarks=system.intended_purpose,
    )


def _component(manifest: Manifest, ids: Ids) -> oc.SystemComponent:
    system, task = manifest.system, manifest.task
    tier = manifest.classification.tier if manifest.classification else None
    standards = manifest.context.applicable_standards if manifest.context else []
    return oc.SystemComponent(
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
                *_many("decision", system.decisions),
                *_many("affected-persons", system.affected_persons),
                *_many("applicable-standard", standards),
            ]
        ),
        status=oc.Status(state="operational"),
    )


def _subject(ids: Ids) -> oc.AssessmentSubjectSpecific:
    return oc.AssessmentSubjectSpecific(
        type="component",
        include_subjects=[oc.SelectSubjectById(subject_uuid=ids("component"), type="component")],
    )


def _select(risk_ids: Iterable[str]) -> oc.ControlSelections:
    return oc.ControlSelections(
        include_controls=[oc.SelectControlById(control_id=rid) for rid in risk_ids]
    )


def reviewed_controls(manifest: Manifest, overall: OverallResidual) -> oc.ReviewedControls:
    program = manifest.risk
    return oc.ReviewedControls(
        description="The risks of the risk program (ISO/IEC 23894 6.4), each assessed by its "
        "pre-registered measures; the risk id is the control id.",
        props=listed(
            [
                *[prop("appetite", level, group=dim) for dim, level in program.appetite.items()],
                prop("risk-criteria-scale", program.criteria.scale),
                prop("review-interval", program.review_interval),
                prop("overall-residual-level", overall.level),
                prop("overall-residual-criterion", overall.criterion),
                prop("overall-residual-evaluation", overall.evaluation),
                *_many("overall-residual-contributor", overall.contributing),
            ]
        ),
        control_selections=[_select(risk.id for risk in program.risks)],
    )


def _objective(manifest: Manifest, risk: Risk, analysis: Analysis) -> oc.LocalObjective:
    """A risk as the objective of its control, with its analysis as props."""
    result = next(item for item in analysis.risks if item.risk_id == risk.id)
    misuses = [m.id for m in manifest.system.potential_misuses if risk.id in m.addressed_by]
    return oc.LocalObjective(
        control_id=risk.id,
        description=line(risk.title or risk.id),
        props=listed(
            [prop("domain", risk.domain), *_analysis_props(result), *_many("misuse", misuses)]
        ),
        parts=[
            oc.Part(name="objective", prose=risk.rationale or risk.title or risk.id),
            *(_treatment_part(treatment) for treatment in risk.treat),
        ],
    )


def _analysis_props(result: RiskAnalysis) -> list[oc.Property | None]:
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


def _treatment_part(treatment: Treatment) -> oc.Part:
    lines = [treatment.action or "", *(f"- {control}" for control in treatment.controls)]
    return oc.Part(
        name="treatment",
        ns=NAMESPACE,
        title=line(f"{treatment.method.value}: {treatment.action or 'no action given'}"),
        props=listed(
            [
                prop("method", treatment.method),
                prop("residual-likelihood", treatment.residual_likelihood),
                *_many("measure-id", (m.id for m in treatment.measures)),
            ]
        ),
        prose="\n".join(text for text in lines if text) or None,
    )


def _activity(ids: Ids, risk: Risk, measure: Measure) -> oc.Activity:
    """A manual measure: declared here, evidenced by a person, never computed by seid."""
    return oc.Activity(
        uuid=ids("activity", measure.id),
        title=line(f"Manual evaluation: {measure.id}"),
        description=f"A person establishes {measure.metric} and records whether it meets "
        f"{measure.constraint}, with the evidence it rests on.",
        props=listed([prop("risk-id", risk.id), prop("measure-id", measure.id)]),
        steps=[
            oc.Step(
                uuid=ids("activity", measure.id, "record"),
                description=f"Record the observed {measure.metric} and who established it.",
            )
        ],
        related_controls=oc.ReviewedControls(control_selections=[_select([risk.id])]),
    )


def _task_groups(manifest: Manifest, ids: Ids) -> list[oc.Task] | None:
    """Pre-market measures and post-market monitoring, as two groups of tasks."""
    groups = [
        ("pre-market", "Pre-market assessment", False),
        ("post-market", "Post-market monitoring (EU AI Act art. 72)", True),
    ]
    tasks = []
    for phase, title, post in groups:
        members = [
            _task(ids, treatment, risk, measure)
            for risk in manifest.risk.risks
            for treatment in risk.treat
            for measure in treatment.measures
            if measure.post_market is post
        ]
        if members:
            tasks.append(
                oc.Task(
                    uuid=ids("task-group", phase),
                    type="milestone",
                    title=title,
                    props=[oc.Property(name="market-phase", value=phase, ns=NAMESPACE)],
                    tasks=members,
                )
            )
    return tasks or None


def _task(ids: Ids, treatment: Treatment, risk: Risk, measure: Measure) -> oc.Task:
    subjects = [oc.AssessmentSubject(_subject(ids))]
    activity = (
        [oc.AssociatedActivity(activity_uuid=ids("activity", measure.id), subjects=subjects)]
        if measure.evaluation == "manual"
        else None
    )
    return oc.Task(
        uuid=ids("measure", measure.id),
        type="action",
        title=line(f"{measure.id}: {measure.metric} {measure.constraint}"),
        description=f"Check that {measure.metric} {measure.constraint} for risk {risk.id} "
        f"({measure.enforcement}, {measure.evaluation}).",
        props=listed(_measure_props(treatment, risk, measure)),
        timing=_timing(measure.frequency),
        associated_activities=activity,
        subjects=subjects,
    )


def _measure_props(treatment: Treatment, risk: Risk, m: Measure) -> list[oc.Property | None]:
    return [
        prop("risk-id", risk.id),
        prop("measure-id", m.id),
        prop("metric", m.metric),
        prop("operator", m.constraint.comparator),
        prop("threshold", repr(m.constraint.threshold)),
        prop("severity", m.severity),
        prop("enforcement", m.enforcement),
        prop("evaluation", m.evaluation),
        *_many("lifecycle-phase", m.lifecycle),
        prop("market-phase", "post-market" if m.post_market else "pre-market"),
        prop("treatment-method", treatment.method),
        prop("article", m.article),
        *_many("standard-clause", m.standard_clauses),
        *_many("framework", m.frameworks),
        prop("control-tier", m.control_tier),
        prop("trigger", m.trigger),
        prop("frequency", m.frequency),
        prop("metric-threshold", None if m.metric_threshold is None else str(m.metric_threshold)),
        prop("art72-citation", m.art72_citation),
        *_many("input", (f"{name}={value}" for name, value in sorted(m.inputs.items()))),
    ]


def _timing(duration: str | None) -> oc.TimingAtFrequency | None:
    """``P1M`` -> every 1 month; a duration of mixed units stays a prop only."""
    match = _SINGLE_UNIT.fullmatch(duration or "")
    if match is None:
        return None
    if match.group(1):
        period, unit = int(match.group(1)), match.group(2)
        period, name = (period * 7, "days") if unit == "W" else (period, _DATE_UNITS[unit])
    else:
        period, name = int(match.group(3)), _TIME_UNITS[match.group(4)]
    if period < 1:
        return None
    return oc.TimingAtFrequency(at_frequency=oc.AtFrequency(period=period, unit=name))


def _manifest_resource(manifest: Manifest, ids: Ids, href: str) -> oc.Resource:
    return oc.Resource(
        uuid=ids("resource", "manifest"),
        title=line(f"seid manifest {manifest.path.name}"),
        description="The risk program this plan was compiled from.",
        rlinks=[
            oc.Rlink(
                href=href,
                media_type="application/yaml",
                hashes=[oc.Hash(algorithm="SHA-256", value=manifest.manifest_digest)],
            )
        ],
    )
