"""The ISO/IEC 23894 cycle per risk from a synthetic history and ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from seid.config import Constraint
from seid.replay.criteria import admits_more
from seid.replay.cycle import RiskCycle, build
from seid.replay.history import walk
from seid.replay.join import join
from tests.replay.conftest import Repo, manifest, verdict

NOW = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("old", "new", "relaxed"),
    [
        ("< 0.03", "< 0.05", True),
        ("< 0.05", "< 0.03", False),
        ("< 0.05", "<= 0.05", True),
        ("<= 0.05", "< 0.05", False),
        (">= 0.7", ">= 0.6", True),
        (">= 0.7", "> 0.7", False),
        ("== 1", "== 1", False),
        ("< 0.03", "> 0.03", True),
    ],
)
def test_admits_more(old: str, new: str, relaxed: bool) -> None:
    assert admits_more(Constraint.parse(old), Constraint.parse(new)) is relaxed


def story(hist: Repo, tmp_path: Path) -> dict[str, str]:
    """Identified and failing, treated and passing, then the goalposts move."""
    hist.key(tmp_path)
    shas = {"identify": hist.commit({"sei.yaml": manifest(), "train.py": "v1"}, "risk program")}
    hist.bundle(shas["identify"], [verdict(0.05, "fail")])
    shas["treat"] = hist.commit({"train.py": "v2"}, "drop the proxy feature")
    hist.bundle(shas["treat"], [verdict(0.01, "pass")])
    relaxed = manifest(constraint="< 0.05", extra_risk=True)
    shas["relax"] = hist.commit({"sei.yaml": relaxed}, "relax")
    hist.bundle(shas["relax"], [verdict(0.04, "fail", "< 0.03")])
    audit = manifest(constraint="< 0.05", enforcement="audit", extra_risk=True)
    shas["ungate"] = hist.commit({"sei.yaml": audit}, "audit only")
    return shas


def cycles_of(hist: Repo, now: datetime = NOW) -> dict[str, RiskCycle]:
    history = walk(hist.path)
    return {c.risk_id: c for c in build(history, join(hist.path, history), now)}


def test_the_cycle_of_a_treated_risk(hist: Repo, tmp_path: Path) -> None:
    shas = story(hist, tmp_path)
    cycles = cycles_of(hist)
    unfair = cycles["unfair"]
    assert unfair.identified is not None and unfair.identified.commit == shas["identify"]
    kinds = [(e.kind, e.commit) for e in unfair.criteria]
    assert kinds == [
        ("identified", shas["identify"]),
        ("relaxed", shas["relax"]),
        ("gate-removed", shas["ungate"]),
    ]
    relaxed = unfair.criteria[1]
    assert (relaxed.measure, relaxed.before, relaxed.after) == (
        "dp-gap",
        "demographic_parity_diff < 0.03",
        "demographic_parity_diff < 0.05",
    )
    verdicts = [(e.verdict, e.verdict_in_force) for e in unfair.evaluations]
    assert verdicts == [("fail", "fail"), ("pass", "pass"), ("fail", "pass")]
    assert unfair.evaluations[2].constraint_in_force == "< 0.05"
    initial, treatment = unfair.treatments
    assert initial.commit == shas["identify"] and initial.effective is None  # nothing failed
    assert treatment.commit == shas["treat"] and treatment.effective is True
    assert treatment.before == {"dp-gap": "fail"} and treatment.after == {"dp-gap": "pass"}
    assert unfair.bundles == 3 and len(unfair.signers) == 1
    assert unfair.authors == ["Ada Tester"]
    assert cycles["drift"].identified is not None
    assert cycles["drift"].identified.commit == shas["relax"]


def test_continuity_assessment_block(hist: Repo, tmp_path: Path) -> None:
    story(hist, tmp_path)
    assessment = cycles_of(hist)["unfair"].assessment
    assert assessment is not None
    assert assessment["likelihood"] == "LIKELY"
    assert assessment["residual_declared_likelihood"] == "UNLIKELY"
    [dimension] = assessment["dimensions"]
    assert dimension["dimension"] == "individual" and dimension["inherent_eval"] == "exceeds"


def test_review_interval_kept_or_missed(hist: Repo, tmp_path: Path) -> None:
    story(hist, tmp_path)
    assert cycles_of(hist)["unfair"].review.missed == []
    late = cycles_of(hist, datetime(2026, 12, 1, tzinfo=UTC))["unfair"].review
    assert late.interval == "P6M" and late.reviews >= 4
    [gap] = late.missed
    assert gap.end_commit is None and gap.due.startswith("2026-07-0")


def test_a_removed_risk_and_a_treatment_without_evidence(hist: Repo) -> None:
    hist.commit({"sei.yaml": manifest(extra_risk=True)})
    hist.commit({"train.py": "v2"})
    gone = hist.commit({"sei.yaml": manifest()})
    cycles = cycles_of(hist)
    assert cycles["drift"].removed is not None and cycles["drift"].removed.commit == gone
    [treatment] = cycles["unfair"].treatments
    assert treatment.effective is None and treatment.after_bundle is None


def test_a_relaxation_does_not_make_a_treatment_effective(hist: Repo, tmp_path: Path) -> None:
    hist.key(tmp_path)
    first = hist.commit({"sei.yaml": manifest(), "train.py": "v1"})
    hist.bundle(first, [verdict(0.05, "fail")])
    treat = hist.commit({"train.py": "v2"})
    relax = hist.commit({"sei.yaml": manifest(constraint="< 0.06")})
    hist.bundle(relax, [verdict(0.05, "pass", "< 0.06")])
    untested = hist.commit({"train.py": "v3"})
    hist.commit({"train.py": "v4"})
    by_commit = {t.commit: t for t in cycles_of(hist)["unfair"].treatments}
    assert by_commit[treat].after == {"dp-gap": "fail"}  # judged by the criteria at treat
    assert by_commit[treat].effective is False
    assert by_commit[untested].after_bundle is None and by_commit[untested].effective is None
