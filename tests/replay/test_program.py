"""What reconstruct.json now carries for the report: the program at head, the newest
claims, each bundle's gate, a promotion's model, a measure's interval, what 6.6 counted."""

from __future__ import annotations

from pathlib import Path

from seid import attest, promote, registry_statements
from seid.replay.history import walk
from seid.replay.join import join
from tests.replay.conftest import Repo, make_doc, manifest, verdict
from tests.replay.schema import problems


def test_the_program_is_the_manifest_at_head(hist: Repo) -> None:
    hist.commit({"sei.yaml": manifest(), "train.py": "v1"})
    head = hist.commit({"sei.yaml": manifest(extra_risk=True)}, "a second risk")
    doc = make_doc(hist)
    program = doc["program"]
    assert program["commit"] == head and program["system"]["name"] == "demo"
    assert [r["risk_id"] for r in program["analysis"]["risk_analysis"]] == ["unfair", "drift"]
    assert program["appetite"] == {"individual": "MEDIUM"}
    assert program["matrix"]["likelihood"][0] == "RARE"
    assert program["matrix"]["cells"][4][4] == "VERY_HIGH"  # almost certain x very high
    assert program["matrix"]["cells"][0][0] == "VERY_LOW"
    [treatment] = program["treatments"]
    assert treatment["method"] == "REDUCE" and treatment["measures"][0]["measure"] == "dp-gap"
    assert problems(doc) == []


def test_no_manifest_no_program(hist: Repo) -> None:
    hist.commit({"README.md": "x"})
    doc = make_doc(hist)
    assert doc["program"] is None and doc["claims"] is None and doc["ledger"]["gates"] == []


def test_claims_gates_intervals_and_what_review_counted(hist: Repo, tmp_path: Path) -> None:
    hist.key(tmp_path)
    first = hist.commit({"sei.yaml": manifest(), "train.py": "v1"})
    second = {**verdict(0.9, "pass", ">= 0.7"), "measure": "acc", "metric": "accuracy"}
    power = {"ci_low": 0.02, "ci_high": 0.04, "ci_level": 0.9, "n": 200}
    old = [{"path": "claims/a.prml.yaml", "verdict": "FAIL", "locked": True}]
    hist.bundle(first, [verdict(0.05, "fail"), second], claims=old)
    treated = hist.commit({"train.py": "v2"})
    new = [{"path": "claims/a.prml.yaml", "verdict": "PASS", "observed": 0.01, "locked": True}]
    metrics = {"dp-gap": {"value": 0.02, "power": power}}
    hist.bundle(treated, [verdict(0.02, "pass")], claims=new, metrics=metrics)
    doc = make_doc(hist)
    assert doc["claims"]["commit"] == treated
    assert doc["claims"]["claims"] == [
        {
            "path": "claims/a.prml.yaml",
            "verdict": "PASS",
            "observed": 0.01,
            "locked": True,
            "reason": None,
        }
    ]
    assert [(g["commit"], g["gate"]) for g in doc["ledger"]["gates"]] == [
        (first, "fail"),
        (treated, "pass"),
    ]
    [unfair] = doc["risks"]
    intervals = [e["interval"] for e in unfair["evaluations"]]
    assert intervals == [None, None, {"ci_low": 0.02, "ci_high": 0.04, "ci_level": 0.9}]
    review = unfair["review"]  # a bundle judging two measures is one review event
    assert (review["edits"], review["bundles"], review["reviews"]) == (1, 2, 3)
    assert problems(doc) == []


def test_a_promotion_says_what_it_promoted(hist: Repo, tmp_path: Path) -> None:
    """``seid promote``'s statement, as it records it: the report names the model."""
    signer = hist.key(tmp_path)
    first = hist.commit({"sei.yaml": manifest(), "train.py": "v1"})
    hist.bundle(first, [verdict(0.01, "pass")])
    [bundle] = join(hist.path, walk(hist.path)).bundles
    made = attest.Attestation(bundle.log_id, bundle.index, bundle.digest, b"")
    promote.record(hist.path, signer, made, first, "models:/credit/3")
    [promotion] = join(hist.path, walk(hist.path)).promotions
    assert promotion.promoted == "models:/credit/3"
    assert promotion.predicate_type == registry_statements.PROMOTION_PREDICATE
    doc = make_doc(hist)
    assert doc["ledger"]["promotions"][0]["promoted"] == "models:/credit/3"
    assert problems(doc) == []
