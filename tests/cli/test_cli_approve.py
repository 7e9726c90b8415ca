"""``seid approve`` end to end: the real CLI, real keys, a real repository and ledger."""

from __future__ import annotations

import json
from pathlib import Path

from tests.approvals.conftest import make_project
from tests.conftest import SeidRunner, assert_one_line_error

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
