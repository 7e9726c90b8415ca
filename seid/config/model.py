"""The ``sei.yaml`` vocabulary as pydantic models.

The sections and keys are the sei engine's (so a ``venth.yaml`` keeps working), plus
seid's own ``pipeline`` entry, ``inputs``, ``claims``, ``evidence`` and ``approval``.
Every section refuses keys it does not know, except ``context``, ``artifacts`` and
``risk.applicability``, which are free-form description that seid records but never
acts on. Cross-references (duplicate ids, ``addressed_by``, appetite per dimension) are
checked by :func:`seid.config.semantics.problems`, which knows where each one is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from seid.config.inputs import default_inputs, merge_inputs
from seid.config.semantics import dotted, problems
from seid.config.values import (
    ConstraintField,
    Identifier,
    InputClasses,
    IsoDuration,
    Level,
    Likelihood,
    RepoPath,
    ThresholdField,
)

# Validation context flag: leave cross-field checks to the caller, who can locate them.
DEFER_CHECKS = "seid.defer_checks"
SEI_API_VERSION = "venturalitica.ai/v1alpha1"  # the sei engine's manifests
WITNESS_KEY_DIR = ".sei/trust/witnesses/"


class Section(BaseModel):
    """A closed section: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OpenSection(BaseModel):
    """A descriptive section that may carry keys seid does not interpret."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Misuse(Section):
    id: Identifier
    description: str | None = None
    addressed_by: list[str] = Field(default_factory=list)


class System(Section):
    name: str
    intended_purpose: str | None = None
    organization: str | None = None
    version: str | None = None
    decisions: list[str] = Field(default_factory=list)
    affected_persons: list[str] = Field(default_factory=list)
    component_type: str | None = None
    potential_misuses: list[Misuse] = Field(default_factory=list)


class Task(Section):
    modality: str | None = None
    type: str | None = None


class Context(OpenSection):
    applicable_standards: list[str] = Field(default_factory=list)


class Artifacts(OpenSection):
    model: dict[str, Any] = Field(default_factory=dict)


class Classification(Section):
    tier: str | None = None
    basis: list[str] = Field(default_factory=list)
    rationale: str | None = None


class Oscal(Section):
    assessment_plan: RepoPath = "assessment_plan.oscal.yaml"


class Pipeline(Section):
    """How the project's pipeline runs, and where it writes its metrics."""

    tool: Literal["dvc", "mlflow", "dagster", "command"]
    metrics: RepoPath = "metrics.json"  # the file the pipeline writes its metrics to
    params: RepoPath | None = None  # the params file (treatment, class B)
    entry: RepoPath | None = None  # mlflow: entry script, or MLproject entry point name
    tracking_uri: str = "sqlite:///mlflow.db"  # mlflow
    registered_model: str | None = None  # mlflow: the registry name promotions go to
    experiment: str = "Default"  # mlflow: the experiment the entry logs to
    # mlflow, for an experiment seid creates: a URI, or a repo directory that becomes a
    # verified seid:// artifact store
    artifact_location: str | None = None
    definitions: RepoPath | None = None  # dagster: the file holding the Definitions
    command: list[str] | None = Field(default=None, min_length=1)  # command: argv, no shell


class Method(StrEnum):
    """Risk treatment options (ISO/IEC 23894 6.5)."""

    REDUCE = "REDUCE"
    AVOID = "AVOID"
    TRANSFER = "TRANSFER"
    ACCEPT = "ACCEPT"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Measure(Section):
    """A pre-registered criterion on one metric, and how it is enforced."""

    id: Identifier
    metric: str
    constraint: ConstraintField
    severity: Severity = Severity.MEDIUM
    enforcement: Literal["gate", "audit"] = "audit"
    evaluation: Literal["automated", "manual"] = "automated"
    lifecycle: list[str] = Field(default_factory=lambda: ["validation"])
    article: str | None = None
    frameworks: list[str] = Field(default_factory=list)
    control_tier: str | None = None
    standard_clauses: list[str] = Field(default_factory=list)
    inputs: dict[str, str] = Field(default_factory=dict)
    trigger: str | None = None
    frequency: IsoDuration | None = None
    metric_threshold: ThresholdField | None = None  # a number or a constraint string
    art72_citation: str | None = None

    @property
    def post_market(self) -> bool:
        """Only monitored after deployment (EU AI Act art. 72), not a release criterion."""
        return set(self.lifecycle) == {"monitoring"}


class Treatment(Section):
    method: Method
    action: str | None = None
    controls: list[str] = Field(default_factory=list)
    residual_likelihood: Likelihood | None = None
    measures: list[Measure] = Field(default_factory=list)


class Risk(Section):
    id: Identifier
    title: str | None = None
    domain: str | None = None
    rationale: str | None = None
    impact: dict[Identifier, Level] = Field(min_length=1)
    likelihood: Likelihood
    treat: list[Treatment] = Field(default_factory=list)

    @property
    def residual_likelihood(self) -> Likelihood:
        """The lowest likelihood any treatment claims; untreated risks keep their own."""
        claimed = [t.residual_likelihood for t in self.treat if t.residual_likelihood]
        return min(claimed, key=lambda level: level.rank, default=self.likelihood)

    @property
    def measures(self) -> list[Measure]:
        return [measure for treatment in self.treat for measure in treatment.measures]


class Criteria(Section):
    """Risk criteria: the scale and, optionally, the team's own matrix or score bands.

    ``matrix`` overrides cells of the default 5x5 matrix (likelihood -> impact -> level);
    ``bands`` gives the highest score (likelihood rank x impact rank) of each level.
    ``on_inconclusive`` says whether a gate measure whose confidence interval straddles
    its threshold lets the gate pass; by default it does not.
    """

    scale: Literal["5x5"] = "5x5"
    matrix: dict[Likelihood, dict[Level, Level]] = Field(default_factory=dict)
    bands: dict[Level, StrictInt] = Field(default_factory=dict)
    on_inconclusive: Literal["fail", "pass"] = "fail"


class RiskProgram(Section):
    appetite: dict[Identifier, Level] = Field(default_factory=dict)
    criteria: Criteria = Criteria()
    overall_residual_criterion: Level | None = None
    review_interval: IsoDuration | None = None
    applicability: dict[str, Any] = Field(default_factory=dict)
    risks: list[Risk] = Field(default_factory=list)


def _witness_key_path(value: str) -> str:
    if not value.startswith(WITNESS_KEY_DIR):
        raise PydanticCustomError(
            "witness_key", f"a witness key lives under {WITNESS_KEY_DIR}, not {value!r}"
        )
    return value


class Witnesses(Section):
    """Who must cosign a log's checkpoints before its entries count as witnessed: the
    witnesses' public keys (paths or globs under ``.sei/trust/witnesses/``, committed
    like every trusted key) and how many of them make a quorum."""

    keys: list[Annotated[RepoPath, AfterValidator(_witness_key_path)]] = Field(min_length=1)
    quorum: StrictInt = Field(ge=1)  # checked against the key files the globs find


class Evidence(Section):
    """Where evidence lives: always ``.sei/`` (the ledger, its cache and run logs). The
    key is read for the sei engine's manifests; another ``dir`` is refused, since every
    seid command and the daemon look for the ledger in ``.sei/`` alone."""

    dir: Literal[".sei/", ".sei"] = ".sei/"
    key: str | None = None
    witnesses: Witnesses | None = None


class Approval(Section):
    """Who must approve a model promotion: roles, the keys that may grant each (by key
    id or by the holder the trust directory names), four eyes, and how long it holds."""

    roles_required: list[str] = Field(default_factory=list)
    approvers: dict[str, list[str]] | None = None  # None: any trusted key may grant
    distinct_from_requester: StrictBool = True
    distinct_approvers: StrictBool | None = None  # None: true when 2+ roles are required
    expires: IsoDuration | None = None


class Replay(Section):
    """How ``seid reconstruct`` reads this repository's history: which git tags, beyond
    seid's promotion statements and GTO's registry tags, are promotions
    (``fnmatch`` patterns such as ``release-*``)."""

    promotion_tags: list[str] = Field(default_factory=list)


class Manifest(Section):
    """A loaded ``sei.yaml`` (or ``venth.yaml``): the risk program and how to evidence it."""

    version: Literal["seid/1"] | None = None
    api_version: Literal["venturalitica.ai/v1alpha1"] | None = Field(None, alias="apiVersion")
    kind: Literal["AISystem"] | None = None
    system: System
    task: Task | None = None
    context: Context | None = None
    artifacts: Artifacts | None = None
    classification: Classification | None = None
    oscal: Oscal = Oscal()
    pipeline: Pipeline
    risk: RiskProgram = RiskProgram()
    inputs: InputClasses | None = None
    claims: list[RepoPath] = Field(default_factory=list)
    evidence: Evidence = Evidence()
    approval: Approval = Approval()
    replay: Replay = Replay()

    _path: Path = PrivateAttr(default=Path("sei.yaml"))
    _digest: str = PrivateAttr(default="")
    _warnings: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Manifest:
        """Cross-field checks; the file loader defers them to report their exact place."""
        if not (info.context or {}).get(DEFER_CHECKS):
            for problem in problems(self):
                where = dotted(problem.loc)
                raise ValueError(f"{where}: {problem.message}" if where else problem.message)
        return self

    @property
    def path(self) -> Path:
        """The file this manifest was read from (``sei.yaml`` when built in memory)."""
        return self._path

    @property
    def manifest_digest(self) -> str:
        """Lowercase hex SHA-256 of the file's bytes, as recorded in evidence."""
        return self._digest

    def located_at(self, path: Path, raw: bytes) -> Manifest:
        """Record where this manifest came from and the digest of its exact bytes."""
        self._path = path
        self._digest = hashlib.sha256(raw).hexdigest()
        return self

    @property
    def warnings(self) -> tuple[str, ...]:
        """``path:line:col: warning: ...`` lines for what was read but is not used."""
        return self._warnings

    def warned(self, warnings: list[str]) -> Manifest:
        self._warnings = tuple(warnings)
        return self

    def iter_measures(self) -> Iterator[tuple[Risk, Measure]]:
        """Every measure with the risk it evidences, in manifest order."""
        for risk in self.risk.risks:
            for measure in risk.measures:
                yield risk, measure

    def resolved_inputs(self, root: Path) -> InputClasses:
        """The watched globs by class: ``inputs`` when given, else derived from the tool.

        The manifest itself and the claim files are always criteria (class A). An
        ``inputs`` that declares only ``tables`` keeps the derived globs: naming a table
        is no reason to write out every path DVC already knows.
        """
        given = self.inputs
        globs = {"criteria", "treatment", "data"}
        if given is None or not given.model_fields_set & globs:
            derived = default_inputs(root, self.pipeline)
            base = derived.model_copy(update={"tables": given.tables if given else []})
        else:
            base = given
        return merge_inputs(base, criteria=[self.path.name, *self.claims])
