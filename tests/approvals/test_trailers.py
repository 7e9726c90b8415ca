"""Git trailers: written by plumbing, read with one git log, signed commits told apart."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from seid import keys
from seid.approvals import trailers
from seid.approvals.lifecycle import lifecycle
from seid.approvals.standing import standing
from seid.approvals.statement import Binding, Identity
from seid.errors import SeidError
from seid.statcache import StatCache
from tests.approvals.conftest import Project, make_project, run_git

BINDING = Binding("sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "c" * 64, "abcd#0")


def test_commit_round_trip_without_sweeping_the_index(project: Project) -> None:
    (project.root / "staged.txt").write_text("not part of the approval\n")
    project.git("add", "staged.txt")
    head = project.git("rev-parse", "HEAD")
    text = trailers.message(
        "grant",
        Identity("Bob Reviewer", "bob@example.org"),
        BINDING,
        role="risk-officer",
        note="residual risk accepted",
        statement="sha256:" + "d" * 64,
    )
    sha = trailers.commit(project.root, text)
    assert project.git("rev-parse", "HEAD") == sha
    assert project.git("rev-parse", f"{sha}^") == head
    assert project.git("diff-tree", "--no-commit-id", "-r", sha) == ""  # empty commit
    assert "staged.txt" in project.git("diff", "--cached", "--name-only")  # still staged
    (event,), findings = trailers.read(project.root)
    assert findings == []
    assert event.decision == "grant" and event.role == "risk-officer"
    assert event.by == Identity("Bob Reviewer", "bob@example.org")
    assert event.binding == BINDING
    assert event.statement == "sha256:" + "d" * 64
    assert event.strength == "trailer" and event.source == f"commit {sha}"


def test_both_spellings_any_case_folded_values(project: Project) -> None:
    project.git(
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "review\n\nsei-approval-requested-by: Ann\n  Example <ann@x.org>\n"
        "SEID-REJECTED-BY: Ben <ben@x.org>\nSei-Approved-by: nobody",
    )
    events, findings = trailers.read(project.root)
    assert [(e.decision, e.by.email) for e in events] == [
        ("request", "ann@x.org"),
        ("reject", "ben@x.org"),
    ]
    assert events[0].by.name == "Ann Example"
    assert [f.kind for f in findings] == ["approval-broken"]


def test_commits_without_decisions_and_empty_repos(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    run_git(empty, "init", "-q")
    assert trailers.read(empty) == ([], [])
    with pytest.raises(SeidError, match="no commit"):
        trailers.commit(empty, "x\n")
    assert trailers.read(tmp_path / "not-a-repo-at-all") == ([], [])


def _ssh_signing(project: Project, tmp_path: Path) -> None:
    key = tmp_path / "sshkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"ada@example.org {key.with_suffix('.pub').read_text()}")
    for name, value in (
        ("gpg.format", "ssh"),
        ("user.signingkey", str(key)),
        ("gpg.ssh.allowedSignersFile", str(allowed)),
        ("commit.gpgsign", "true"),
    ):
        project.git("config", name, value)


def test_signed_commit_is_stronger_than_a_bare_trailer(tmp_path: Path) -> None:
    project = make_project(tmp_path, [])
    project.bundle("v1", finished="2026-01-01T00:00:00+00:00")
    project.git("commit", "-q", "--allow-empty", "-m", "a\n\nSei-Approval-Requested-by: A <a@x>")
    _ssh_signing(project, tmp_path)  # ada@example.org is the allowed signer
    ada = Identity("Ada Tester", "ada@example.org")
    text = trailers.message("grant", ada, BINDING, role=None, note=None, statement=None)
    sha = trailers.commit(project.root, text)  # commit.gpgSign honoured by commit-tree
    events, findings = trailers.read(project.root)
    assert [(e.decision, e.strength) for e in events] == [
        ("request", "trailer"),
        ("grant", "signed-commit"),
    ]
    assert events[1].source == f"commit {sha}" and findings == []
    # Ada signs a commit naming Bob: it proves nothing about Bob
    bob = Identity("Bob", "a@example.org")  # a suffix of Ada's address is not Ada
    trailers.commit(
        project.root, trailers.message("grant", bob, BINDING, role=None, note=None, statement=None)
    )
    events, findings = trailers.read(project.root)
    assert events[-1].strength == "trailer"
    assert [f.kind for f in findings] == ["commit-signer-mismatch"]


def test_a_trailer_pointing_at_a_statement_counts_once(project: Project) -> None:
    project.decide("alice", "request")
    envelope = project.decide("bob", "grant", role="risk-officer")
    text = trailers.message(
        "grant",
        Identity("Bob", "bob@example.org"),
        BINDING,
        role="risk-officer",
        note=None,
        statement="sha256:" + hashlib.sha256(envelope).hexdigest(),
    )
    trailers.commit(project.root, text)
    result = lifecycle(project.root, project.manifest(), now=datetime.now(UTC))
    assert result.state == "approved"
    assert [g.strength for g in result.grants] == ["signed-statement"]


def test_untrusted_and_forged_commit_signatures(tmp_path: Path) -> None:
    project = make_project(tmp_path, [])
    _ssh_signing(project, tmp_path)
    (tmp_path / "allowed_signers").write_text("")  # the signing key is nobody we trust
    text = trailers.message(
        "grant", Identity("B", "b@x"), BINDING, role=None, note=None, statement=None
    )
    signed = trailers.commit(project.root, text)
    (event,), findings = trailers.read(project.root)
    assert event.strength == "trailer"
    assert [f.kind for f in findings] == ["unchecked-commit-signature"]
    raw = project.git("cat-file", "commit", signed).replace("B <b@x>", "Z <z@x>") + "\n"
    forged = subprocess.run(
        ["git", "hash-object", "-t", "commit", "-w", "--stdin"],
        cwd=project.root, input=raw, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    project.git("update-ref", "HEAD", forged)
    (event,), findings = trailers.read(project.root)
    assert event.by.email == "z@x" and event.strength == "trailer"
    assert [f.kind for f in findings] == ["bad-commit-signature"]


def test_status_follows_a_change_of_who_git_trusts_to_sign(tmp_path: Path) -> None:
    """The status cache must not keep showing a signature git no longer accepts."""
    project = make_project(tmp_path, [])
    project.bundle("v1", finished="2026-01-01T00:00:00+00:00")
    project.git("commit", "-q", "--allow-empty", "-m", "a\n\nSei-Approval-Requested-by: A <a@x>")
    _ssh_signing(project, tmp_path)
    ada = Identity("Ada Tester", "ada@example.org")
    trailers.commit(
        project.root, trailers.message("grant", ada, BINDING, role=None, note=None, statement=None)
    )
    head = project.git("rev-parse", "HEAD")
    with StatCache.open(project.root) as cache:
        assert standing(project.root, head, cache).strength == "signed-commit"
        assert standing(project.root, head, cache).strength == "signed-commit"  # cached
        (tmp_path / "allowed_signers").write_text("")  # Ada's key is trusted no more
        assert standing(project.root, head, cache).strength == "trailer"


def test_a_trailer_grant_counts_only_from_a_key_registered_for_the_role(tmp_path: Path) -> None:
    """Under named approvers, the commit's ssh signature must trace to a trusted key whose
    holder may grant the role; a bare trailer or an unregistered signer is a finding."""
    policy = "  approvers:\n    risk-officer: [Ada Tester]\n"
    project = make_project(tmp_path, ["risk-officer"], policy_lines=policy)
    project.bundle("v1")
    project.decide("alice", "request")
    current = lifecycle(project.root, project.manifest()).current
    ada = Identity("Ada Tester", "ada@example.org")
    grant = trailers.message("grant", ada, current, role="risk-officer", note=None, statement=None)
    project.git("commit", "-q", "--allow-empty", "-m", grant)  # unsigned: a bare trailer
    _ssh_signing(project, tmp_path)  # git trusts Ada's ssh key; .sei/trust/ does not yet
    signed = trailers.commit(project.root, grant)

    state = lifecycle(project.root, project.manifest())
    assert state.state == "approval_requested"
    refused = [f for f in state.findings if f.kind == "unauthorised-approval"]
    assert len(refused) == 2 and refused[-1].commits == (signed,)

    pub = tmp_path / "sshkey.pub"  # the OpenSSH public key Ada signs commits with
    held = keys.Holder("Ada Tester", "ada@example.org", ("compliance-officer",))
    keys.add_trusted(project.root, pub, held)
    state = lifecycle(project.root, project.manifest())
    assert state.state == "approval_requested"  # her key is not registered for the role
    assert "registered for compliance-officer, not risk-officer" in state.findings[-1].summary

    keys.add_trusted(project.root, pub, keys.Holder("Ada Tester", "ada@example.org"))
    state = lifecycle(project.root, project.manifest())
    assert state.state == "approved"
    assert [(g.source, g.strength) for g in state.grants] == [(f"commit {signed}", "signed-commit")]
