"""Verdicts and the gate: pass, fail, inconclusive, missing, declared; post-market apart."""

from __future__ import annotations

import pytest

from seid.assess import assess, gate_of, judge
from seid.config import Constraint, load_manifest_text
from seid.metrics_file import Metric

MANIFEST = """\
version: seid/1
system: {name: credit-scorer}
pipeline: {tool: command, command: [python, eval.py]}
risk:
  appetite: {individual: MEDIUM}
  overall_residual_criterion: MEDIUM
  risks:
    - id: unfair-credit-exclusion
      impact: {individual: HIGH}
      likelihood: LIKELY
      treat:
        - method: REDUCE
          residual_likelihood: UNLIKELY
          measures:
            - {id: dp-gap, metric: demographic_parity_diff, constraint: "< 0.03",
               enforcement: gate}
            - {id: accuracy-floor, metric: accuracy, constraint: ">= 0.70",
               enforcement: audit}
            - {id: review, metric: human_review, constraint: "== 1", enforcement: gate,
               evaluation: manual}
            - {id: drift, metric: psi, constraint: "< 0.2", enforcement: gate,
               lifecycle: [monitoring]}
"""


@pytest.fixture
def manifest():  # type: ignore[no-untyped-def]
    return load_manifest_text(MANIFEST, "sei.yaml")


LT = Constraint("<", 0.03)


@pytest.mark.parametrize(
    ("observed", "verdict"),
    [
        (None, "missing"),
        (Metric(0.01), "pass"),
        (Metric(0.03), "fail"),
        (Metric(0.01, ci_low=0.001, ci_high=0.02), "pass"),
        (Metric(0.01, ci_low=0.001, ci_high=0.05), "inconclusive"),
        (Metric(0.05, ci_low=0.01, ci_high=0.09), "inconclusive"),
        (Metric(0.05, ci_low=0.04, ci_high=0.09), "fail"),
    ],
)
def test_judge(observed: Metric | None, verdict: str) -> None:
    assert judge(LT, observed, 1e-9) == verdict


def test_equality_interval() -> None:
    eq = Constraint("==", 1.0)
    assert judge(eq, Metric(1.0, ci_low=1.0, ci_high=1.0), 1e-9) == "pass"
    assert judge(eq, Metric(0.9, ci_low=0.8, ci_high=1.1), 1e-9) == "inconclusive"
    assert judge(eq, Metric(0.5, ci_low=0.4, ci_high=0.6), 1e-9) == "fail"


def test_measure_id_is_looked_up_before_metric_name(manifest) -> None:  # type: ignore[no-untyped-def]
    metrics = {
        "dp-gap": Metric(0.01),
        "demographic_parity_diff": Metric(0.5),
        "accuracy": Metric(0.8),
    }
    result = assess(manifest, metrics)
    by_id = {v.measure: v for v in result.verdicts}
    assert by_id["dp-gap"].verdict == "pass"
    assert by_id["dp-gap"].observed == Metric(0.01)
    assert by_id["accuracy-floor"].verdict == "pass"


def test_manual_is_declared_and_post_market_is_left_to_the_daemon(manifest) -> None:  # type: ignore[no-untyped-def]
    result = assess(manifest, {"dp-gap": Metric(0.01), "accuracy": Metric(0.8)})
    by_id = {v.measure: v for v in result.verdicts}
    assert by_id["review"].verdict == "declared"
    assert "drift" not in by_id
    assert result.post_market == ("drift",)
    assert result.gate == "pass"
    assert result.gate_measures_passed("unfair-credit-exclusion")


def test_audit_measures_never_block(manifest) -> None:  # type: ignore[no-untyped-def]
    result = assess(manifest, {"dp-gap": Metric(0.01), "accuracy": Metric(0.1)})
    assert {v.measure: v.verdict for v in result.verdicts}["accuracy-floor"] == "fail"
    assert result.gate == "pass"


def test_missing_gate_measure_fails_the_gate(manifest) -> None:  # type: ignore[no-untyped-def]
    result = assess(manifest, {"accuracy": Metric(0.8)})
    assert result.gate == "fail"
    assert not result.gate_measures_passed("unfair-credit-exclusion")


def test_inconclusive_gate_follows_policy(manifest) -> None:  # type: ignore[no-untyped-def]
    metrics = {"dp-gap": Metric(0.02, ci_low=0.0, ci_high=0.05), "accuracy": Metric(0.8)}
    result = assess(manifest, metrics)
    assert result.gate == "inconclusive"
    assert gate_of(result.verdicts, "pass") == "pass"
    # the verdict itself stays inconclusive whatever the policy
    assert {v.measure: v.verdict for v in result.verdicts}["dp-gap"] == "inconclusive"


def test_verdict_dict_carries_the_interval(manifest) -> None:  # type: ignore[no-untyped-def]
    metrics = {"dp-gap": Metric(0.046, 0.003, 0.174, 0.95, 200, "bootstrap")}
    entry = assess(manifest, metrics).verdicts[0].to_dict()
    assert entry == {
        "risk": "unfair-credit-exclusion",
        "measure": "dp-gap",
        "metric": "demographic_parity_diff",
        "observed": 0.046,
        "constraint": "< 0.03",
        "enforcement": "gate",
        "verdict": "inconclusive",
        "ci": {"low": 0.003, "high": 0.174, "level": 0.95, "n": 200, "method": "bootstrap"},
    }
