"""Assess: measured metrics against the pre-registered measures -> verdicts and a gate.

A verdict is what an auditor reads first, so each one says exactly why:

- ``pass`` / ``fail``: the observation (its whole confidence interval, when one is given)
  satisfies, or does not satisfy, the constraint;
- ``inconclusive``: a confidence interval is given and it straddles the threshold, so
  the point estimate alone proves nothing;
- ``missing``: the pipeline wrote no value for the measure;
- ``declared``: a manual measure, recorded as declared and never computed.

Post-market measures (lifecycle ``monitoring`` only) are not judged by a release run; the
daemon's schedule evaluates them at their own frequency. The gate passes only when every
``gate`` measure passes; audit measures are reported and never block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from seid.comparators import DEFAULT_TOLERANCE
from seid.config import Constraint, Manifest, Measure, Risk
from seid.metrics_file import Metric, lookup

Verdict = Literal["pass", "fail", "inconclusive", "missing", "declared"]
Gate = Literal["pass", "fail", "inconclusive", "error"]


@dataclass(frozen=True)
class MeasureVerdict:
    """One measure judged in one run."""

    risk: str
    measure: str
    metric: str
    constraint: Constraint
    enforcement: str
    verdict: Verdict
    observed: Metric | None = None

    def to_dict(self) -> dict[str, Any]:
        """The bundle's ``verdicts[]`` entry (DESIGN: risk, measure, metric, observed, ...)."""
        entry: dict[str, Any] = {
            "risk": self.risk,
            "measure": self.measure,
            "metric": self.metric,
            "observed": None if self.observed is None else self.observed.value,
            "constraint": str(self.constraint),
            "enforcement": self.enforcement,
            "verdict": self.verdict,
        }
        if self.observed is not None and self.observed.ci_low is not None:
            entry["ci"] = {
                "low": self.observed.ci_low,
                "high": self.observed.ci_high,
                "level": self.observed.ci_level,
                "n": self.observed.n,
                "method": self.observed.method,
            }
        return entry


@dataclass(frozen=True)
class Assessment:
    """Every verdict of a run, the gate they add up to, and what was left to the daemon."""

    verdicts: tuple[MeasureVerdict, ...]
    gate: Gate
    post_market: tuple[str, ...]

    def gate_measures_passed(self, risk_id: str) -> bool:
        """Whether every computed gate measure of ``risk_id`` passed (control confirmed)."""
        gates = [v.verdict for v in _computed_gates(self.verdicts) if v.risk == risk_id]
        return bool(gates) and all(v == "pass" for v in gates)


def _computed_gates(verdicts: tuple[MeasureVerdict, ...]) -> list[MeasureVerdict]:
    """Gate measures a run can judge; manual ones are declarations, not results."""
    return [v for v in verdicts if v.enforcement == "gate" and v.verdict != "declared"]


def judge(constraint: Constraint, observed: Metric | None, tolerance: float) -> Verdict:
    """The verdict of one observation; a confidence interval must lie wholly on one side."""
    if observed is None:
        return "missing"
    if observed.ci_low is None or observed.ci_high is None:
        return "pass" if constraint.holds(observed.value, tolerance) else "fail"
    low_holds = constraint.holds(observed.ci_low, tolerance)
    high_holds = constraint.holds(observed.ci_high, tolerance)
    if low_holds and high_holds:
        return "pass"
    if constraint.comparator == "==":
        straddles = observed.ci_low <= constraint.threshold <= observed.ci_high
        return "inconclusive" if straddles else "fail"
    return "inconclusive" if low_holds or high_holds else "fail"


def assess_measure(risk: Risk, measure: Measure, metrics: Mapping[str, Metric]) -> MeasureVerdict:
    """Judge one measure; the measure id is looked up before the metric name."""
    if measure.evaluation == "manual":
        verdict: Verdict = "declared"
        observed = None
    else:
        observed = lookup(metrics, measure.id, measure.metric)
        verdict = judge(measure.constraint, observed, DEFAULT_TOLERANCE)
    return MeasureVerdict(
        risk.id,
        measure.id,
        measure.metric,
        measure.constraint,
        measure.enforcement,
        verdict,
        observed,
    )


def gate_of(verdicts: tuple[MeasureVerdict, ...], on_inconclusive: str) -> Gate:
    """Every gate measure must pass; an inconclusive one passes only if the policy says so.

    A missing or failing gate measure fails the gate. When inconclusive measures are all
    that stand in the way, the gate is ``inconclusive`` (not passing) unless the manifest
    says ``on_inconclusive: pass``.
    """
    gates = [v.verdict for v in _computed_gates(verdicts)]
    if any(v in ("fail", "missing") for v in gates):
        return "fail"
    if "inconclusive" in gates:
        return "pass" if on_inconclusive == "pass" else "inconclusive"
    return "pass"


def assess(manifest: Manifest, metrics: Mapping[str, Metric]) -> Assessment:
    """Judge every pre-release measure of the manifest against one run's metrics."""
    verdicts: list[MeasureVerdict] = []
    post_market: list[str] = []
    for risk, measure in manifest.iter_measures():
        if measure.post_market:
            post_market.append(measure.id)
            continue
        verdicts.append(assess_measure(risk, measure, metrics))
    frozen = tuple(verdicts)
    gate = gate_of(frozen, manifest.risk.criteria.on_inconclusive)
    return Assessment(frozen, gate, tuple(post_market))
