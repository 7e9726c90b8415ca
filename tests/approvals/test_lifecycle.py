"""The lifecycle from real ledgers and real git history: request, grant, supersede, expire."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from seid.approvals.authority import Trust
from seid.approvals.lifecycle import lifecycle, state_at
from seid.ledger import publish
from seid.ledger.paths import list_logs
from tests.approvals.conftest import Project, make_project

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def state(project: Project, now: datetime | None = None) -> str:
    return lifecycle(project.root, project.manifest(), now=now or T0 + timedelta(days=1)).state


def kinds(project: Project) -> list[str]:
    result = lifecycle(project.root, project.manifest(), now=T0 + timedelta(days=1))
    return [f.kind for f in result.findings]


def test_draft_request_grant_supersede_and_reapprove(project: Project) -> None:
    assert state(project) == "draft"
    project.decide("alice", "request", at=T0)
    assert state(project) == "approval_requested"
    project.decide("bob", "grant", role="risk-officer", at=T0 + timedelta(hours=1))
    first = lifecycle(project.root, project.manifest(), now=T0 + timedelta(days=1))
    assert first.state == "approved"
    report = first.to_dict()
    assert report["approval"]["state"] == "approved"
    assert report["approval"]["requested_by"]["email"] == "alice@example.org"
    assert [g["email"] for g in report["approval"]["approved_by"]] == ["bob@example.org"]
    assert report["approval"]["strength"] == "signed-statement"
    assert report["approval"]["bound_to"] == report["approval"]["current"]
    assert report["lifecycle"] == {"state": "approved"}

    project.bundle("v2")  # a treatment change, re-run, a new bundle
    superseded = lifecycle(project.root, project.manifest(), now=T0 + timedelta(days=1))
    assert superseded.state == "superseded"
    assert superseded.changed == ["evidence"]
    assert superseded.to_dict()["approval"]["approved_by"][0]["stale"] == ["evidence"]

    project.decide("bob", "grant", role="risk-officer", at=T0 + timedelta(hours=2))
    again = lifecycle(project.root, project.manifest(), now=T0 + timedelta(days=1))
    assert again.state == "approved"
    assert again.bound_to == again.current


def test_changed_analysis_supersedes(project: Project) -> None:
    project.decide("alice", "request", at=T0)
    project.decide("bob", "grant", role="risk-officer", at=T0 + timedelta(hours=1))
    text = (project.root / "sei.yaml").read_text().replace("LIKELY\n", "POSSIBLE\n", 1)
    (project.root / "sei.yaml").write_text(text)
    result = lifecycle(project.root, project.manifest(), now=T0 + timedelta(days=1))
    assert result.state == "superseded"
    assert "analysis" in result.changed and "plan" in result.changed


def test_self_approval_is_not_counted(project: Project) -> None:
    project.decide("alice", "request", at=T0)
    project.decide("alice", "grant", role="risk-officer", at=T0 + timedelta(hours=1))
    # another key, same person: distinct by email too
    project.key("alice2")
    project.decide(
        "alice2",
        "grant",
        role="risk-officer",
        at=T0 + timedelta(hours=2),
        email="ALICE@example.org",
    )
    assert state(project) == "approval_requested"
    assert kinds(project).count("self-approval") == 2


def test_self_approval_counts_when_the_policy_allows_it(tmp_path: Path) -> None:
    project = make_project(tmp_path, ["risk-officer"])
    text = (project.root / "sei.yaml").read_text()
    text = text.replace("approval:\n", "approval:\n  distinct_from_requester: false\n")
    (project.root / "sei.yaml").write_text(text)
    project.bundle("v1")
    project.decide("alice", "request", at=T0)
    project.decide("alice", "grant", role="risk-officer", at=T0 + timedelta(hours=1))
    assert state(project) == "approved"


def test_untrusted_key_is_a_finding_not_an_approval(project: Project) -> None:
    project.decide("alice", "request", at=T0)
    project.key("mallory", trust=False)
    project.decide("mallory", "grant", role="risk-officer", at=T0 + timedelta(hours=1))
    assert state(project) == "approval_requested"
    assert "approval-untrusted" in kinds(project)


def test_two_roles_both_must_grant_and_a_rejection_wins(tmp_path: Path) -> None:
    project = make_project(tmp_path, ["risk-officer", "compliance"])
    project.bundle("v1")
    project.key("carol")
    project.decide("alice", "request", at=T0)
    project.decide("bob", "grant", role="risk-officer", at=T0 + timedelta(hours=1))
    partial = lifecycle(project.root, project.manifest(), now=T0 + timedelta(days=1))
    assert partial.state == "approval_requested"
    assert partial.missing_roles == ["compliance"]
    project.decide("carol", "reject", role="compliance", at=T0 + timedelta(hours=2))
    assert state(project) == "rejected"
    project.decide("carol", "grant", role="compliance", at=T0 + timedelta(hours=3))
    assert state(project) == "approved"
    project.decide("alice", "request", at=T0 + timedelta(hours=4))  # a new round
    assert state(project) == "approval_requested"


def test_expiry_with_a_controlled_clock(project: Project) -> None:
    project.decide("alice", "request", at=T0)
    project.decide("bob", "grant", role="risk-officer", at=T0)
    assert state(project, now=T0 + timedelta(days=29)) == "approved"
    lapsed = lifecycle(project.root, project.manifest(), now=T0 + timedelta(days=31))
    assert lapsed.state == "review_due"
    assert lapsed.expires == T0 + timedelta(days=30)
    project.decide("bob", "grant", role="risk-officer", at=T0 + timedelta(days=32))
    assert state(project, now=T0 + timedelta(days=33)) == "approved"


def test_expiry_falls_back_to_the_review_interval(tmp_path: Path) -> None:
    project = make_project(tmp_path, [], expires=None)
    project.bundle("v1")
    project.decide("alice", "request", at=T0)
    project.decide("bob", "grant", at=T0)
    assert state(project, now=T0 + timedelta(days=180)) == "approved"
    assert state(project, now=datetime(2026, 9, 1, 9, 0, tzinfo=UTC)) == "review_due"  # P6M


def test_trailers_only_unsigned_commit(tmp_path: Path) -> None:
    project = make_project(tmp_path, [])
    project.bundle("v1", finished="2026-01-01T00:00:00+00:00")
    when = {"GIT_COMMITTER_DATE": "2026-02-01T10:00:00+00:00"}
    project.git(
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "ask\n\nSei-Approval-Requested-by: Ann <ann@x.org>",
        env=when,
    )
    assert state(project) == "approval_requested"
    when = {"GIT_COMMITTER_DATE": "2026-02-02T10:00:00+00:00"}
    project.git(
        "commit", "-q", "--allow-empty", "-m", "ok\n\nSeid-Approved-by: Ben <ben@x.org>", env=when
    )
    result = lifecycle(project.root, project.manifest(), now=T0)
    assert result.state == "approved"
    approval = result.to_dict()["approval"]
    assert approval["strength"] == "trailer"
    assert approval["approved_by"][0]["source"].startswith("commit ")
    assert approval["approved_by"][0]["keyid"] is None
    assert "approval-unbound" in [f.kind for f in result.findings]
    project.bundle("v2", finished="2026-02-03T00:00:00+00:00")  # newer than the trailer
    assert lifecycle(project.root, project.manifest(), now=T0).state == "superseded"


def test_trailer_self_approval_by_email(tmp_path: Path) -> None:
    project = make_project(tmp_path, [])
    project.git("commit", "-q", "--allow-empty", "-m", "a\n\nSei-Approval-Requested-by: A <a@x>")
    project.git("commit", "-q", "--allow-empty", "-m", "b\n\nSei-Approved-by: Also A <A@x>")
    result = lifecycle(project.root, project.manifest())
    assert result.state == "approval_requested"
    assert [f.kind for f in result.findings] == ["self-approval"]


def test_future_dated_decisions_do_not_count(project: Project) -> None:
    project.decide("alice", "request", at=T0)
    project.decide("bob", "grant", role="risk-officer", at=T0 + timedelta(days=400))
    result = lifecycle(project.root, project.manifest(), now=T0 + timedelta(days=1))
    assert result.state == "approval_requested"
    assert [f.kind for f in result.findings] == ["approval-future-dated"]


def test_state_at_a_past_promotion(project: Project) -> None:
    """What reconstruct asks: was the version promoted at ``when`` approved then?"""
    first = lifecycle(project.root, project.manifest(), now=T0).current.evidence
    project.decide("alice", "request", at=T0)
    project.decide("bob", "grant", role="risk-officer", at=T0 + timedelta(hours=1))
    project.bundle("v2")
    events = lifecycle(project.root, project.manifest(), now=T0 + timedelta(days=1)).events
    manifest, trust = project.manifest(), Trust.load(project.root)
    assert (
        state_at(events, manifest, T0 + timedelta(minutes=30), first, trust) == "approval_requested"
    )
    assert state_at(events, manifest, T0 + timedelta(hours=2), first, trust) == "approved"
    assert (
        state_at(events, manifest, T0 + timedelta(hours=2), "sha256:other", trust) == "superseded"
    )
    assert state_at(events, manifest, T0 + timedelta(days=40), first, trust) == "review_due"


def test_rejection_without_role_is_replaced_by_the_same_persons_grant(project: Project) -> None:
    project.decide("alice", "request", at=T0)
    project.decide("bob", "reject", at=T0 + timedelta(hours=1))
    assert state(project) == "rejected"
    project.decide("bob", "grant", role="risk-officer", at=T0 + timedelta(hours=2))
    assert state(project) == "approved"


def test_the_requester_may_withdraw(project: Project) -> None:
    project.decide("alice", "request", at=T0)
    project.decide("alice", "reject", at=T0 + timedelta(hours=1), note="withdrawn")
    result = lifecycle(project.root, project.manifest(), now=T0 + timedelta(days=1))
    assert result.state == "rejected" and result.findings == []


def test_published_refs_alone_are_enough(project: Project) -> None:
    """An auditor's clone has no .sei/ledger/, only the refs: same lifecycle."""
    project.decide("alice", "request", at=T0)
    project.decide("bob", "grant", role="risk-officer", at=T0 + timedelta(hours=1))
    for log_id in list_logs(project.root):
        publish.publish(project.root, log_id)
    before = lifecycle(project.root, project.manifest(), now=T0 + timedelta(days=1)).to_dict()
    shutil.rmtree(project.root / ".sei" / "ledger")
    after = lifecycle(project.root, project.manifest(), now=T0 + timedelta(days=1)).to_dict()
    assert after == before
    assert after["lifecycle"]["state"] == "approved"
