"""Risk analysis and evaluation (ISO/IEC 23894 6.4.3 and 6.4.4), as a pure function.

Each risk's level is read from a 5x5 matrix of likelihood and impact, once before
treatment (inherent) and once with the treatment's residual likelihood (residual), per
impact dimension, and compared with the appetite for that dimension. The default
matrix multiplies the ranks (1..5) and bands the score, which reproduces the sei
engine's levels; a manifest may override cells or bands under ``risk.criteria``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from seid.config import Criteria, Level, Likelihood, Risk, RiskProgram

Evaluation = Literal["within", "exceeds"]

# Highest score (likelihood rank x impact rank) of each level in the default matrix.
DEFAULT_BANDS: Mapping[Level, int] = {
    Level.VERY_LOW: 2,
    Level.LOW: 6,
    Level.MEDIUM: 9,
    Level.HIGH: 16,
    Level.VERY_HIGH: 25,
}


def band(score: int, bands: Mapping[Level, int] = DEFAULT_BANDS) -> Level:
    """The level whose band holds ``score`` (bands ascend; the last ends at 25)."""
    for level in sorted(bands, key=lambda lv: lv.rank):
        if score <= bands[level]:
            return level
    raise ValueError(f"score {score} is above every band")


@dataclass(frozen=True)
class Matrix:
    """Likelihood x impact -> level, all 25 cells."""

    cells: Mapping[tuple[Likelihood, Level], Level]

    @classmethod
    def from_criteria(cls, criteria: Criteria | None = None) -> Matrix:
        """The default matrix, re-banded by ``bands`` and then overridden cell by cell."""
        bands = (criteria.bands if criteria else None) or DEFAULT_BANDS
        cells = {
            (likelihood, impact): band(likelihood.rank * impact.rank, bands)
            for likelihood in Likelihood
            for impact in Level
        }
        for likelihood, row in (criteria.matrix if criteria else {}).items():
            for impact, level in row.items():
                cells[likelihood, impact] = level
        return cls(cells)

    def level(self, likelihood: Likelihood, impact: Level) -> Level:
        return self.cells[likelihood, impact]


def evaluate(level: Level, limit: Level) -> Evaluation:
    """``within`` when ``level`` is at most ``limit``, else ``exceeds``."""
    return "within" if level.rank <= limit.rank else "exceeds"


@dataclass(frozen=True)
class DimensionAnalysis:
    dimension: str
    impact: Level
    appetite: Level
    inherent_level: Level
    inherent_eval: Evaluation
    residual_level: Level
    residual_eval: Evaluation

    def to_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "impact": self.impact.value,
            "appetite": self.appetite.value,
            "inherent_level": self.inherent_level.value,
            "inherent_eval": self.inherent_eval,
            "residual_level": self.residual_level.value,
            "residual_eval": self.residual_eval,
        }


@dataclass(frozen=True)
class RiskAnalysis:
    risk_id: str
    likelihood: Likelihood
    residual_likelihood: Likelihood
    dimensions: tuple[DimensionAnalysis, ...]
    inherent_overall: Level
    residual_overall: Level
    requires_treatment: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "risk_id": self.risk_id,
            "likelihood": self.likelihood.value,
            "residual_likelihood": self.residual_likelihood.value,
            "dimensions": [d.to_dict() for d in self.dimensions],
            "inherent_overall": self.inherent_overall.value,
            "residual_overall": self.residual_overall.value,
            "requires_treatment": self.requires_treatment,
        }


@dataclass(frozen=True)
class OverallResidual:
    """The residual risk of the whole system against ``overall_residual_criterion``.

    ``contributing`` names the risks that exceed the criterion when it is exceeded, else
    those at the overall level. ``level`` is None for a program with no risks.
    """

    level: Level | None
    criterion: Level | None
    evaluation: Evaluation
    contributing: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.value if self.level else None,
            "criterion": self.criterion.value if self.criterion else None,
            "evaluation": self.evaluation,
            "contributing": list(self.contributing),
        }


@dataclass(frozen=True)
class Analysis:
    risks: tuple[RiskAnalysis, ...]
    overall_residual: OverallResidual

    def to_dict(self) -> dict[str, Any]:
        """The ``risk_analysis`` and ``overall_residual`` members of an evidence predicate."""
        return {
            "risk_analysis": [risk.to_dict() for risk in self.risks],
            "overall_residual": self.overall_residual.to_dict(),
        }


def analyze_risk(risk: Risk, appetite: Mapping[str, Level], matrix: Matrix) -> RiskAnalysis:
    """One risk, per impact dimension; the manifest guarantees an appetite for each."""
    residual_likelihood = risk.residual_likelihood
    dimensions = []
    for dimension, impact in risk.impact.items():
        limit = appetite[dimension]
        inherent = matrix.level(risk.likelihood, impact)
        residual = matrix.level(residual_likelihood, impact)
        dimensions.append(
            DimensionAnalysis(
                dimension=dimension,
                impact=impact,
                appetite=limit,
                inherent_level=inherent,
                inherent_eval=evaluate(inherent, limit),
                residual_level=residual,
                residual_eval=evaluate(residual, limit),
            )
        )
    return RiskAnalysis(
        risk_id=risk.id,
        likelihood=risk.likelihood,
        residual_likelihood=residual_likelihood,
        dimensions=tuple(dimensions),
        inherent_overall=_highest(d.inherent_level for d in dimensions),
        residual_overall=_highest(d.residual_level for d in dimensions),
        requires_treatment=any(d.inherent_eval == "exceeds" for d in dimensions),
    )


def analyze(program: RiskProgram) -> Analysis:
    """The risk analysis of a whole risk program."""
    matrix = Matrix.from_criteria(program.criteria)
    risks = tuple(analyze_risk(risk, program.appetite, matrix) for risk in program.risks)
    return Analysis(risks, overall(risks, program.overall_residual_criterion))


def overall(risks: tuple[RiskAnalysis, ...], criterion: Level | None) -> OverallResidual:
    if not risks:
        return OverallResidual(None, criterion, "within", ())
    level = _highest(r.residual_overall for r in risks)
    evaluation = evaluate(level, criterion) if criterion else "within"
    if evaluation == "exceeds" and criterion is not None:
        contributing = [r.risk_id for r in risks if r.residual_overall.rank > criterion.rank]
    else:
        contributing = [r.risk_id for r in risks if r.residual_overall == level]
    return OverallResidual(level, criterion, evaluation, tuple(contributing))


def _highest(levels: Iterable[Level]) -> Level:
    return max(levels, key=lambda level: level.rank)
