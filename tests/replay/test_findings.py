"""Findings on synthetic histories: each kind, and a history with none."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from seid import attest, evidence
from seid.claims import load_claim
from seid.registry_statements import FINDING_PREDICATE, WITHOUT_APPROVAL
from seid.replay.cycle import build
from seid.replay.findings import KINDS, Finding, find
from seid.replay.history import walk
from seid.replay.join import join
from tests.replay.conftest import Repo, claim, every_finding, manifest, verdict

SOON = datetime(2026, 2, 1, tzinfo=UTC)
LATE = datetime(2027, 1, 1, tzinfo=UTC)


def findings(hist: Repo, now: datetime = SOON) -> list[Finding]:
    history = walk(hist.path)
    found = join(hist.path, history)
    return find(history, found, build(history, found, now))


def claim_hash(tmp_path: Path, text: str) -> str:
    path = tmp_path / "c.prml.yaml"
    path.write_text(text)
    return load_claim(path).hash


def test_a_well_kept_history_has_no_findings(hist: Repo, tmp_path: Path) -> None:
    hist.key(tmp_path)
    first = hist.commit({"sei.yaml": manifest(), "train.py": "v1"})
    hist.bundle(first, [verdict(0.01, "pass")])
    data = hist.commit({"data/x.csv": "1"})
    hist.bundle(data, [verdict(0.02, "pass")])
    hist.run("tag", "credit@v1.0.0")
    hist.commit({"claims/fair.prml.yaml": claim()})
    amended = claim(seed=2, prior_hash=claim_hash(tmp_path, claim()))
    hist.commit({"claims/fair.prml.yaml": amended})
    docs = hist.commit({"README.md": "docs"})  # unwatched: needs no evidence
    hist.bundle(docs, [verdict(0.02, "pass")])
    assert findings(hist) == []


def test_each_kind_of_finding_with_what_is_behind_it(hist: Repo, tmp_path: Path) -> None:
    shas = every_finding(hist, tmp_path)
    first, untested, also = shas["first"], shas["untested"], shas["also"]
    relax, amended = shas["relax"], shas["amended"]
    found = findings(hist, LATE)
    kinds = {f.kind for f in found}
    assert kinds == set(KINDS)
    by_kind: dict[str, list[Finding]] = {}
    for finding in found:
        by_kind.setdefault(finding.kind, []).append(finding)
    assert [f.commits for f in by_kind["unevidenced-change"]] == [[untested], [also]]
    [goalposts] = by_kind["moved-goalposts"]
    assert goalposts.commits == [relax, first] and goalposts.measure == "dp-gap"
    assert goalposts.severity == "high" and goalposts.entries
    bypass = {f.commits[0]: f for f in by_kind["gate-bypass"]}
    assert "gate fail" in bypass[first].summary and bypass[first].entries
    assert "GTO: credit version v0.1.0 registered" in bypass[first].summary
    assert "no evidence" in bypass[also].summary
    assert "GTO: credit assigned to stage prod" in bypass[also].summary
    [broken] = by_kind["broken-evidence"]
    assert broken.commits == [relax] and broken.entries[0].endswith("#2")
    [amend] = by_kind["claim-amended"]
    assert amend.commits == [amended] and "no prior_hash" in amend.summary
    assert [f.risk for f in by_kind["review-overdue"]] == ["unfair"]
    assert [f.kind for f in found] == sorted((f.kind for f in found), key=KINDS.index)


def test_a_never_watched_repository_is_all_unevidenced(hist: Repo) -> None:
    hist.commit({"sei.yaml": manifest(), "train.py": "v1"})
    hist.commit({"train.py": "v2"})
    hist.commit({"README.md": "x"})
    hist.commit({"data/x.csv": "1"})
    found = findings(hist)
    assert [f.kind for f in found] == ["unevidenced-change"] * 3


def test_a_later_bundle_evidences_an_earlier_change_until_the_inputs_move(
    hist: Repo, tmp_path: Path
) -> None:
    hist.key(tmp_path)
    change = hist.commit({"sei.yaml": manifest(), "train.py": "v1"})
    docs = hist.commit({"README.md": "x"})
    hist.bundle(docs, [verdict(0.01, "pass")])
    assert findings(hist) == []
    hist.commit({"train.py": "v2"})
    late = hist.commit({"README.md": "y"})
    hist.bundle(late, [verdict(0.01, "pass")])
    assert [f.commits for f in findings(hist)] == []
    assert change  # evidenced by the bundle at ``docs``


def test_raising_the_appetite_after_a_failure_moves_the_goalposts(
    hist: Repo, tmp_path: Path
) -> None:
    hist.key(tmp_path)
    first = hist.commit({"sei.yaml": manifest(), "train.py": "v1"})
    hist.bundle(first, [verdict(0.05, "fail")])
    raised = manifest().replace("{individual: MEDIUM}", "{individual: HIGH}")
    change = hist.commit({"sei.yaml": raised})
    [finding] = findings(hist)
    assert finding.kind == "moved-goalposts" and finding.commits == [change, first]
    assert finding.risk == "unfair" and finding.measure is None
    assert "appetite raised" in finding.summary


def test_what_the_registry_sidecar_attested_is_a_finding(hist: Repo, tmp_path: Path) -> None:
    signer = hist.key(tmp_path)
    first = hist.commit({"sei.yaml": manifest(), "train.py": "v1"})
    hist.bundle(first, [verdict(0.01, "pass")])
    seen = {"model": "credit", "version": "3", "alias": "champion", "run_id": None}
    seen |= {"source": None, "registry": "http://mlflow:5000"}
    subject = [evidence.Subject("models:/credit/3", "a" * 64)]
    kinds = (WITHOUT_APPROVAL, "a-kind-of-a-later-sidecar")
    done = [
        attest.append(hist.path, signer, subject, seen | {"kind": kind}, FINDING_PREDICATE)
        for kind in kinds
    ]
    history = walk(hist.path)
    found = join(hist.path, history)
    [finding] = find(history, found, build(history, found, SOON))
    assert (finding.kind, finding.severity, finding.commits) == (WITHOUT_APPROVAL, "high", [])
    assert finding.entries == [f"{signer.public_key.keyid[:16]}#{done[0].index}"]
    assert finding.summary.startswith(
        "models:/credit/3 held the alias champion without an approval of its evidence (seen by"
    )
    assert found.other == 1  # a kind this report does not know is counted, not dropped


def test_only_registry_and_declared_tags_are_promotions(hist: Repo) -> None:
    """A tutorial's step tags promote nothing; GTO's tags and the team's own patterns do."""
    text = manifest() + "replay: {promotion_tags: [release-*]}\n"
    hist.commit({"sei.yaml": text, "train.py": "v1"})
    for tag in ("0-git-init", "3-config-remote", "v1", "checkpoint"):
        hist.run("tag", tag)
    assert [f for f in findings(hist) if f.kind == "gate-bypass"] == []
    hist.commit({"train.py": "v2"})
    hist.run("tag", "release-7")
    hist.commit({"train.py": "v3"})
    hist.run("tag", "scorer@v2.1.0-rc.1")
    hist.commit({"train.py": "v4"})
    hist.run("tag", "scorer#staging#3")
    said = sorted(f.summary for f in findings(hist) if f.kind == "gate-bypass")
    assert len(said) == 3
    assert "GTO: scorer assigned to stage staging" in said[0]
    assert "GTO: scorer version v2.1.0-rc.1 registered" in said[1]
    assert "tag release-7, a promotion by replay.promotion_tags (release-*)" in said[2]
