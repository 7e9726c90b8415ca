"""``seid approve`` end to end: the real CLI, real keys, a real repository and ledger."""

from __future__ import annotations

import json
from pathlib import Path

from tests.approvals.conftest import make_project
from tests.conftest import Result, SeidRunner, assert_one_line_error

ALICE = "Alice <alice@example.org>"
BOB = "Bob <bob@example.org>"


def test_request_grant_show_and_refusals(seid: SeidRunner, tmp_path: Path) -> None:
    project = make_project(tmp_path, ["risk-officer"])
    cwd = project.root
    alice, bob = str(project.private["alice"]), str(project.private["bob"])

    nothing = seid("approve", "request", "--key", alice, "--as", ALICE, cwd=cwd)
    assert_one_line_error(nothing, "no evidence bundle")
    project.bundle("v1")
    early = seid("approve", "grant", "--role", "risk-officer", "--key", bob, cwd=cwd)
    assert_one_line_error(early, "no approval has been requested")

    asked = seid("approve", "request", "--key", alice, "--as", ALICE, "--note", "v1", cwd=cwd)
    assert asked.code == 0, asked.err
    assert "lifecycle: approval_requested" in asked.out

    selfie = seid("approve", "grant", "--role", "risk-officer", "--key", alice, cwd=cwd)
    assert_one_line_error(selfie, "self-approval refused", ALICE)  # same key, git's email

    granted = seid(
        "approve", "grant", "--role", "risk-officer", "--key", bob, "--as", BOB, "--commit",
        cwd=cwd,
    )  # fmt: skip
    assert granted.code == 0, granted.err
    assert "lifecycle: approved" in granted.out
    message = project.git("log", "-1", "--format=%B")
    assert f"Sei-Approved-by: {BOB}" in message and "Seid-Role: risk-officer" in message

    shown = seid("approve", "show", "--json", "--check", cwd=cwd)
    assert shown.code == 0, shown.err
    report = json.loads(shown.out)
    assert report["lifecycle"]["state"] == "approved"
    (grant,) = report["approval"]["approved_by"]  # statement and trailer: one decision
    assert grant["email"] == "bob@example.org" and grant["strength"] == "signed-statement"
    assert report["approval"]["requested_by"]["note"] == "v1"

    project.bundle("v2")
    stale = seid("approve", "show", "--check", cwd=cwd)
    assert stale.code == 1
    assert "lifecycle: superseded" in stale.out
    assert "changed since: evidence" in stale.out


def test_untrusted_key_is_warned_and_not_counted(seid: SeidRunner, tmp_path: Path) -> None:
    project = make_project(tmp_path, [])
    project.bundle("v1")
    project.key("mallory", trust=False)
    project.decide("alice", "request")
    result = seid(
        "approve", "grant", "--key", str(project.private["mallory"]), "--as", "M <m@x.org>",
        cwd=project.root,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "not in .sei/trust/" in result.err
    assert "lifecycle: approval_requested" in result.out
    shown = seid("approve", "show", cwd=project.root)
    assert "finding [high] approval-untrusted" in shown.out


ROLES = ["model-risk-officer", "compliance-officer"]
ONE = "Approver One <one@example.invalid>"
TWO = "Approver Two <two@example.invalid>"


def _grant(seid: SeidRunner, cwd: Path, key: Path, role: str, who: str | None = None) -> Result:
    extra = ["--as", who] if who else []
    return seid("approve", "grant", "--role", role, "--key", key, *extra, cwd=cwd)


def test_one_key_cannot_be_two_approvers(seid: SeidRunner, tmp_path: Path) -> None:
    """The issue's sequence, with no approvers named: one key, two roles, two names."""
    project = make_project(tmp_path, ROLES)
    cwd, approver = project.root, project.private["bob"]
    project.bundle("v1")
    project.decide("alice", "request")
    assert _grant(seid, cwd, approver, ROLES[0], ONE).code == 0
    second = _grant(seid, cwd, approver, ROLES[1], TWO)
    assert_one_line_error(second, "grant as compliance-officer refused", "distinct_approvers")
    held = seid("promote", "--key", project.private["daemon"], cwd=cwd)
    assert_one_line_error(held, "holds the promotion", "approval_requested")

    # registered, the key speaks for its holder only: --as cannot make it someone else
    pub = project.keydir / "bob.pub"
    added = seid("trust", "add", pub, "--as", ONE, "--role", ROLES[0], "--role", ROLES[1], cwd=cwd)
    assert added.code == 0, added.err
    listed = seid("trust", "list", cwd=cwd).out
    assert f"{ONE}  roles: {', '.join(ROLES)}" in listed
    assert_one_line_error(_grant(seid, cwd, approver, ROLES[1], TWO), "registered to", ONE)
    assert_one_line_error(_grant(seid, cwd, approver, ROLES[1]), "distinct_approvers")
    assert seid("approve", "show", "--check", cwd=cwd).code == 1


def test_approvers_name_who_may_grant_each_role(seid: SeidRunner, tmp_path: Path) -> None:
    policy = "  approvers:\n    model-risk-officer: [carol@example.org]\n"
    policy += "    compliance-officer: [Bob]\n"
    project = make_project(tmp_path, ROLES, policy_lines=policy)
    cwd = project.root
    project.key("carol")
    for name, roles in (("bob", ["compliance-officer"]), ("carol", [])):
        who = f"{name.title()} <{name}@example.org>"
        argv = ["trust", "add", project.keydir / f"{name}.pub", "--as", who]
        assert seid(*argv, *[a for r in roles for a in ("--role", r)], cwd=cwd).code == 0
    project.bundle("v1")
    project.decide("alice", "request")
    bob, carol = project.private["bob"], project.private["carol"]

    wrong = _grant(seid, cwd, bob, "model-risk-officer")  # registered for compliance only
    assert_one_line_error(wrong, "refused", "registered for compliance-officer")
    alice = _grant(seid, cwd, project.private["alice"], "model-risk-officer")
    assert_one_line_error(alice, "self-approval refused")
    outsider = _grant(seid, cwd, project.private["daemon"], "compliance-officer")
    assert_one_line_error(outsider, "not among approval.approvers.compliance-officer")
    assert _grant(seid, cwd, carol, "model-risk-officer").code == 0
    done = _grant(seid, cwd, bob, "compliance-officer")
    assert done.code == 0, done.err
    assert "lifecycle: approved" in done.out


def test_a_hand_made_grant_is_an_unauthorised_approval_finding(
    seid: SeidRunner, tmp_path: Path
) -> None:
    """Written into the ledger without the CLI: the same key in both roles, and a statement
    naming someone other than its key's registered holder. Neither counts."""
    project = make_project(tmp_path, ROLES)
    cwd = project.root
    seid("trust", "add", project.keydir / "bob.pub", "--as", "Bob <bob@example.org>", cwd=cwd)
    project.bundle("v1")
    project.decide("alice", "request")
    project.decide("bob", "grant", role=ROLES[0])
    project.decide("bob", "grant", role=ROLES[1])
    project.decide("bob", "grant", role=ROLES[1], email="two@example.invalid")
    shown = json.loads(seid("approve", "show", "--json", cwd=cwd).out)
    assert shown["lifecycle"]["state"] == "approval_requested"
    assert shown["approval"]["missing_roles"] == [ROLES[1]]
    unauthorised = [f for f in shown["findings"] if f["kind"] == "unauthorised-approval"]
    assert len(unauthorised) == 2 and all(f["severity"] == "high" for f in unauthorised)
    summaries = " | ".join(f["summary"] for f in unauthorised)
    assert "granted model-risk-officer already (approval.distinct_approvers)" in summaries
    assert "is registered to Bob <bob@example.org>" in summaries

    report = seid("reconstruct", "--no-sign", cwd=cwd)
    assert report.code in (0, 1), report.err
    kinds = [f["kind"] for f in json.loads(report.out)["findings"]]
    assert kinds.count("unauthorised-approval") == 2
