"""Approvals in ``seid reconstruct``: the lifecycle in the report, promotions judged by it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from seid import evidence
from seid.ledger.log import Ledger
from seid.promote import PROMOTION_PREDICATE
from seid.replay import page, report
from seid.replay.approval import review
from seid.replay.cycle import build
from seid.replay.findings import find
from seid.replay.history import walk
from seid.replay.join import join
from tests.approvals.conftest import Project, make_project, manifest_text
from tests.replay.schema import problems

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=2)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """Three trusted keys (daemon, alice, bob), the role risk-officer required, a bundle."""
    made = make_project(tmp_path, ["risk-officer"])
    made.bundle("v1")
    return made


def reconstruct(project: Project) -> dict[str, Any]:
    """The report as ``seid reconstruct`` builds it, judged at :data:`NOW`."""
    history = walk(project.root)
    found = join(project.root, history)
    cycles = build(history, found, NOW)
    approvals = review(project.root, history, found, NOW)
    findings = find(history, found, cycles, approvals.findings)
    scope = report.Scope(history.commits[-1].sha, None, None, NOW)
    doc = report.document(scope, history, found, cycles, findings, None, approvals)
    assert problems(doc) == []
    return doc


def promote(project: Project, at: datetime) -> str:
    """What ``seid run`` appends after a promotion: a statement naming HEAD; its entry."""
    signer = project.signers["daemon"]
    predicate = {
        "git": {"commit": project.git("rev-parse", "HEAD")},
        "promoted": "demo@champion",
        "at": at.isoformat(),
    }
    statement = evidence.statement(
        [evidence.Subject("model", "c" * 64)], PROMOTION_PREDICATE, predicate
    )
    with Ledger.open(project.root, signer.public_key.keyid, write=True) as ledger:
        index, _ = ledger.append(evidence.sign(statement, signer), signer)
    return f"{signer.public_key.keyid[:16]}#{index}"


def kinds(doc: dict[str, Any]) -> list[str]:
    return [f["kind"] for f in doc["findings"]]


def test_the_report_carries_approval_and_lifecycle(project: Project) -> None:
    project.decide("alice", "request", at=T0, note="v1 please")
    project.decide("bob", "grant", role="risk-officer", at=T0 + timedelta(hours=1))
    doc = reconstruct(project)
    assert doc["lifecycle"] == {"state": "approved", "system": "demo"}
    approval = doc["approval"]
    assert approval["state"] == "approved"
    assert approval["requested_by"]["email"] == "alice@example.org"
    [grant] = approval["approved_by"]
    assert (grant["email"], grant["role"], grant["strength"]) == (
        "bob@example.org",
        "risk-officer",
        "signed-statement",
    )
    assert approval["at"] == (T0 + timedelta(hours=1)).isoformat()
    assert approval["bound_to"] == approval["current"]
    text = report.markdown(doc)
    assert "## Approval" in text and "lifecycle of system demo: approved" in text
    assert "signed statement in the ledger" in text
    assert "lifecycle of system demo: approved" in page.html(doc)
    doc["lifecycle"]["state"] = "maybe"
    assert any(p.startswith("/lifecycle") for p in problems(doc))


def test_without_decisions_the_system_is_draft_and_the_plan_not_compiled(
    project: Project,
) -> None:
    doc = reconstruct(project)
    assert doc["lifecycle"]["state"] == "draft"
    assert doc["approval"]["requested_by"] is None
    assert doc["approval"]["current"]["plan"] is None  # nothing to compare it with
    assert doc["approval"]["current"]["evidence"] is not None


def test_a_promotion_before_the_grant_is_a_finding_and_one_after_it_is_not(
    project: Project,
) -> None:
    project.decide("alice", "request", at=T0)
    early = promote(project, T0 + timedelta(minutes=30))
    project.decide("bob", "grant", role="risk-officer", at=T0 + timedelta(hours=1))
    promote(project, T0 + timedelta(hours=2))
    doc = reconstruct(project)
    [finding] = [f for f in doc["findings"] if f["kind"] == "unapproved-promotion"]
    assert finding["severity"] == "high"
    assert "approval_requested" in finding["summary"]
    assert finding["entries"][0] == early
    assert finding["commits"] == [project.git("rev-parse", "HEAD")]
    assert doc["summary"]["by_kind"]["unapproved-promotion"] == 1


def test_a_promotion_of_a_superseded_approval_is_a_finding(project: Project) -> None:
    project.decide("alice", "request", at=T0)
    project.decide("bob", "grant", role="risk-officer", at=T0 + timedelta(hours=1))
    project.bundle("v2", finished="2026-03-01T12:00:00+00:00")  # not what Bob approved
    promote(project, T0 + timedelta(hours=4))
    [finding] = reconstruct(project)["findings"]
    assert finding["kind"] == "unapproved-promotion" and "superseded" in finding["summary"]


def test_without_an_approval_policy_a_promotion_needs_none(tmp_path: Path) -> None:
    project = make_project(tmp_path, None, expires=None)
    policy = "approval:\n  roles_required: []\n"
    (project.root / "sei.yaml").write_text(manifest_text(None, None).replace(policy, ""))
    project.git("commit", "-qam", "no approval policy")
    project.bundle("v1")
    promote(project, T0)
    doc = reconstruct(project)
    assert "unapproved-promotion" not in kinds(doc)
    assert doc["lifecycle"]["state"] == "draft"


def test_trailer_only_approvals_are_marked_unsigned(tmp_path: Path) -> None:
    project = make_project(tmp_path, [])
    project.bundle("v1")
    for hours, trailer in (
        (0, "Sei-Approval-Requested-by: Alice <alice@example.org>"),
        (1, "Sei-Approved-by: Bob <bob@example.org>"),
    ):
        when = (T0 + timedelta(hours=hours)).isoformat()
        project.git(
            "commit", "-q", "--allow-empty", "-m", f"review\n\n{trailer}\n",
            env={"GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when},
        )  # fmt: skip
    doc = reconstruct(project)
    assert doc["approval"]["strength"] == "trailer"
    assert [g["strength"] for g in doc["approval"]["approved_by"]] == ["trailer"]
    assert "approval-unbound" in kinds(doc)  # a bare trailer names no digest
    assert "git trailer in an unsigned commit: weaker evidence" in report.markdown(doc)


def test_an_untrusted_approval_is_one_finding_not_two(project: Project) -> None:
    project.key("mallory", trust=False)
    project.decide("alice", "request", at=T0)
    project.decide("mallory", "grant", role="risk-officer", at=T0 + timedelta(hours=1))
    doc = reconstruct(project)
    mallory = project.signers["mallory"].public_key.keyid[:16]
    about = [f for f in doc["findings"] if any(e.startswith(mallory) for e in f["entries"])]
    assert [f["kind"] for f in about] == ["broken-evidence"]
    assert "not trusted" in about[0]["summary"]
    assert doc["lifecycle"]["state"] == "approval_requested"
