"""Risk analysis: the 5x5 matrix against the issue's examples, and a three-risk program."""

from __future__ import annotations

import pytest

from seid.config import Level, Likelihood, load_manifest_text
from seid.risk import DEFAULT_BANDS, Matrix, analyze, band

LI, LV = Likelihood, Level

# Issue 2, item 3: "which gives what the sei engine gives".
ISSUE_EXAMPLES = [
    (LI.LIKELY, LV.HIGH, LV.HIGH),
    (LI.POSSIBLE, LV.HIGH, LV.HIGH),
    (LI.UNLIKELY, LV.HIGH, LV.MEDIUM),
    (LI.POSSIBLE, LV.MEDIUM, LV.MEDIUM),
    (LI.UNLIKELY, LV.MEDIUM, LV.LOW),
]


@pytest.mark.parametrize(("likelihood", "impact", "level"), ISSUE_EXAMPLES)
def test_default_matrix_gives_the_sei_engine_levels(
    likelihood: Likelihood, impact: Level, level: Level
) -> None:
    assert Matrix.from_criteria().level(likelihood, impact) is level


@pytest.mark.parametrize(
    ("scores", "level"),
    [((1, 2), LV.VERY_LOW), ((3, 4, 5, 6), LV.LOW), ((8, 9), LV.MEDIUM),
     ((10, 12, 15, 16), LV.HIGH), ((20, 25), LV.VERY_HIGH)],
)  # fmt: skip
def test_bands_of_every_reachable_score(scores: tuple[int, ...], level: Level) -> None:
    for score in scores:
        assert band(score) is level


def test_matrix_corners_and_symmetry() -> None:
    matrix = Matrix.from_criteria()
    assert matrix.level(LI.RARE, LV.VERY_LOW) is LV.VERY_LOW
    assert matrix.level(LI.ALMOST_CERTAIN, LV.VERY_HIGH) is LV.VERY_HIGH
    assert matrix.level(LI.ALMOST_CERTAIN, LV.VERY_LOW) is LV.LOW  # 5
    assert matrix.level(LI.LIKELY, LV.VERY_HIGH) is LV.VERY_HIGH  # 20
    for likelihood in LI:
        for impact in LV:
            mirrored = matrix.level(LI.from_rank(impact.rank), LV.from_rank(likelihood.rank))
            assert matrix.level(likelihood, impact) is mirrored
    with pytest.raises(ValueError, match="above every band"):
        band(26, DEFAULT_BANDS)


THREE_RISKS = """\
version: seid/1
system: {name: triage}
pipeline: {tool: command, command: [python, train.py]}
risk:
  appetite: {individual: LOW, society: MEDIUM, organization: HIGH}
  overall_residual_criterion: MEDIUM
  risks:
    - id: missed-diagnosis
      impact: {individual: VERY_HIGH, organization: HIGH}
      likelihood: POSSIBLE
      treat:
        - {method: ACCEPT, residual_likelihood: POSSIBLE}
        - {method: REDUCE, residual_likelihood: UNLIKELY}
    - id: unequal-service
      impact: {society: MEDIUM}
      likelihood: UNLIKELY
    - id: data-leak
      impact: {individual: HIGH, organization: VERY_HIGH}
      likelihood: UNLIKELY
      treat:
        - {method: TRANSFER, action: insurer carries the loss, residual_likelihood: RARE}
"""


def test_three_risks_inherent_residual_and_overall() -> None:
    analysis = analyze(load_manifest_text(THREE_RISKS, "sei.yaml").risk)
    missed, unequal, leak = analysis.risks
    # POSSIBLE(3) x VERY_HIGH(5) = 15 HIGH; the best treatment leaves UNLIKELY(2): 10 HIGH
    assert missed.to_dict() == {
        "risk_id": "missed-diagnosis",
        "likelihood": "POSSIBLE",
        "residual_likelihood": "UNLIKELY",
        "dimensions": [
            {"dimension": "individual", "impact": "VERY_HIGH", "appetite": "LOW",
             "inherent_level": "HIGH", "inherent_eval": "exceeds",
             "residual_level": "HIGH", "residual_eval": "exceeds"},
            {"dimension": "organization", "impact": "HIGH", "appetite": "HIGH",
             "inherent_level": "HIGH", "inherent_eval": "within",
             "residual_level": "MEDIUM", "residual_eval": "within"},
        ],
        "inherent_overall": "HIGH",
        "residual_overall": "HIGH",
        "requires_treatment": True,
    }  # fmt: skip
    # untreated: the residual is the inherent risk, UNLIKELY(2) x MEDIUM(3) = 6 LOW
    assert (unequal.inherent_overall, unequal.residual_overall) == (LV.LOW, LV.LOW)
    assert unequal.residual_likelihood is LI.UNLIKELY and not unequal.requires_treatment
    # UNLIKELY x VERY_HIGH = 10 HIGH (within HIGH); RARE x VERY_HIGH = 5 LOW
    assert leak.inherent_overall is LV.HIGH and leak.residual_overall is LV.LOW
    assert leak.requires_treatment  # individual: UNLIKELY x HIGH = 8 MEDIUM > LOW
    assert analysis.overall_residual.to_dict() == {
        "level": "HIGH",
        "criterion": "MEDIUM",
        "evaluation": "exceeds",
        "contributing": ["missed-diagnosis"],
    }


def test_overall_within_names_the_risks_at_the_top_level() -> None:
    text = THREE_RISKS.replace(
        "overall_residual_criterion: MEDIUM", "overall_residual_criterion: HIGH"
    )
    overall = analyze(load_manifest_text(text, "sei.yaml").risk).overall_residual
    assert (overall.level, overall.evaluation) == (LV.HIGH, "within")
    assert overall.contributing == ("missed-diagnosis",)


def test_a_manifest_matrix_overrides_cells_and_bands() -> None:
    text = THREE_RISKS.replace(
        "  overall_residual_criterion: MEDIUM\n",
        "  overall_residual_criterion: MEDIUM\n"
        "  criteria:\n"
        "    bands: {VERY_LOW: 4, LOW: 8, MEDIUM: 12, HIGH: 19, VERY_HIGH: 25}\n"
        "    matrix: {UNLIKELY: {VERY_HIGH: MEDIUM}}\n",
    )
    analysis = analyze(load_manifest_text(text, "sei.yaml").risk)
    missed = analysis.risks[0]
    # re-banded: 15 -> HIGH still; the UNLIKELY x VERY_HIGH cell is overridden to MEDIUM
    assert missed.dimensions[0].inherent_level is LV.HIGH
    assert missed.dimensions[0].residual_level is LV.MEDIUM
    # re-banded: UNLIKELY x HIGH = 8 is LOW now (was MEDIUM)
    assert missed.dimensions[1].residual_level is LV.LOW
    assert analysis.overall_residual.evaluation == "within"


def test_a_program_without_risks() -> None:
    text = "version: seid/1\nsystem: {name: x}\npipeline: {tool: dvc}\n"
    analysis = analyze(load_manifest_text(text, "sei.yaml").risk)
    assert analysis.to_dict() == {
        "risk_analysis": [],
        "overall_residual": {
            "level": None, "criterion": None, "evaluation": "within", "contributing": []
        },
    }  # fmt: skip


def test_overall_residual_criterion_is_required_with_risks() -> None:
    text = THREE_RISKS.replace("  overall_residual_criterion: MEDIUM\n", "")
    with pytest.raises(Exception, match=r"sei\.yaml:4:1: risk: missing 'overall_residual"):
        load_manifest_text(text, "sei.yaml")
