"""Approval statements: bound to the exact bundle bytes, plan and analysis; read back."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
import rfc8785
from securesystemslib.signer import Key, SSlibKey  # type: ignore[attr-defined]

from seid import evidence, scenarios
from seid.approvals import statement
from seid.approvals.lifecycle import lifecycle
from seid.approvals.names import APPROVAL_PREDICATE
from seid.approvals.statement import (
    Binding,
    Identity,
    compile_in_memory,
    current_binding,
    event_of,
    parse_identity,
    read_ledger,
    whoami,
)
from seid.config import load_manifest_text
from seid.errors import SeidError
from seid.ledger import records
from seid.oscal.plan import compile_plan
from seid.risk import analyze
from tests.approvals.conftest import Project


def test_statement_binds_the_newest_bundle_plan_and_analysis(project: Project) -> None:
    newest = project.bundle("v2")
    envelope = project.decide("alice", "request", note="please review")
    stmt = evidence.decode(envelope)
    assert stmt["predicateType"] == APPROVAL_PREDICATE
    bound = stmt["predicate"]["bound_to"]
    assert bound["evidence"] == f"sha256:{hashlib.sha256(newest).hexdigest()}"
    assert bound["evidence_entry"].endswith("#1")
    assert bound["plan"] == compile_in_memory(project.root, project.manifest()).digest
    assert bound["analysis"] == statement.analysis_digest(project.manifest())
    digests = {s["name"]: s["digest"]["sha256"] for s in stmt["subject"]}
    assert digests[f"evidence:{bound['evidence_entry']}"] == hashlib.sha256(newest).hexdigest()
    assert set(digests) >= {"assessment_plan.oscal.yaml", "risk-analysis"}
    assert stmt["predicate"]["system"] == "demo"
    assert stmt["predicate"]["note"] == "please review"


def test_stock_dsse_verification(project: Project) -> None:
    """The envelope verifies with the signer's key alone, as any DSSE verifier would."""
    envelope = project.decide("alice", "request")
    key: Key = project.signers["alice"].public_key
    assert evidence.verify(envelope, {key.keyid: key}).keyids == (key.keyid,)
    assert isinstance(key, SSlibKey)


def test_read_back_from_the_signers_own_log(project: Project) -> None:
    project.decide("alice", "request")
    project.decide("bob", "grant", role="risk-officer")
    view = read_ledger(project.root)
    by_log = {entry.log_id: event_of(entry) for entry in view.approvals}
    assert set(by_log) == {
        project.signers["alice"].public_key.keyid,
        project.signers["bob"].public_key.keyid,
    }
    grant = by_log[project.signers["bob"].public_key.keyid]
    assert grant.decision == "grant" and grant.role == "risk-officer"
    assert grant.by.keyid == project.signers["bob"].public_key.keyid
    assert grant.strength == "signed-statement"
    assert all(entry.problem is None for entry in view.approvals)


def test_untrusted_log_entries_carry_their_problem(project: Project) -> None:
    project.key("mallory", trust=False)
    project.decide("mallory", "grant", role="risk-officer")
    (entry,) = read_ledger(project.root).approvals
    assert entry.problem is not None and "not trusted" in entry.problem


def test_a_forged_entry_is_not_trusted(project: Project) -> None:
    """A request rewritten into a grant (framing kept valid) keeps its problem."""
    project.decide("alice", "request")
    log = project.root / ".sei" / "ledger" / project.signers["alice"].public_key.keyid / "log"
    with log.open("rb") as stream:
        ((entry, note),) = list(records.iterate_pairs(stream))
    envelope = json.loads(entry)
    stmt = json.loads(base64.b64decode(envelope["payload"]))
    stmt["predicate"]["decision"] = "grant"
    envelope["payload"] = base64.b64encode(evidence.canonical_json(stmt)).decode()
    log.write_bytes(records.pack_pair(evidence.canonical_json(envelope), note))
    (forged,) = read_ledger(project.root).approvals
    assert forged.predicate["decision"] == "grant"
    assert forged.problem is not None
    result = lifecycle(project.root, project.manifest())
    assert result.state == "draft"
    assert [f.kind for f in result.findings] == ["approval-broken"]


def test_binding_follows_the_newest_bundle(project: Project) -> None:
    view = read_ledger(project.root)
    first, _ = current_binding(project.root, project.manifest(), view)
    project.bundle("v2")
    second, _ = current_binding(project.root, project.manifest(), read_ledger(project.root))
    assert first.changed(second) == ["evidence"]
    assert second.changed(second) == []


def test_plan_file_current_or_stale(project: Project) -> None:
    manifest = project.manifest()
    assert compile_in_memory(project.root, manifest).file == "absent"
    written = compile_plan(manifest, project.root)
    plan = compile_in_memory(project.root, manifest)
    assert plan.file == "current" and plan.digest == f"sha256:{written.digest}"
    written.path.write_text(written.path.read_text() + "# edited\n")
    assert compile_in_memory(project.root, manifest).file == "stale"


def test_binding_round_trip_and_bad_shapes() -> None:
    binding = Binding("sha256:aa", "sha256:bb", "sha256:cc", "abc#0")
    assert Binding.from_dict(json.loads(json.dumps(binding.to_dict()))) == binding
    assert Binding.from_dict({"evidence": 3}) is None
    assert Binding.from_dict("x") is None


def test_identity_parsing(project: Project) -> None:
    assert parse_identity("Ada Lovelace <ada@example.org>") == Identity(
        "Ada Lovelace", "ada@example.org"
    )
    assert parse_identity("no email") is None
    assert whoami(project.root, None, "k", None) == Identity("Ada Tester", "ada@example.org", "k")
    with pytest.raises(SeidError, match="Name <email>"):
        whoami(project.root, "just a name", "k", None)


def test_a_registered_key_speaks_only_for_its_holder(project: Project) -> None:
    held = Identity("Bob Reviewer", "bob@example.org", "k")
    assert whoami(project.root, None, "k", held) == held  # not git's user
    assert whoami(project.root, "Bob Reviewer <BOB@example.org>", "k", held) == held
    for other in ("Approver Two <two@example.invalid>", "Bob <bob@example.org>"):
        with pytest.raises(SeidError, match="registered to Bob Reviewer <bob@example"):
            whoami(project.root, other, "k", held)


def test_whoami_without_git_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    with pytest.raises(SeidError, match="--as"):
        whoami(tmp_path, None, "k", None)  # not a repository, no HOME identity either


@pytest.mark.parametrize("source", ["project", "loan"])
def test_analysis_digest_is_rfc8785_and_unchanged_for_stored_approvals(
    project: Project, source: str
) -> None:
    """Any JCS tool recomputes the bound analysis digest, and it is the digest seid's own
    sorted compact JSON gave, so grants already in ledgers stay bound to it."""
    path = Path(scenarios.__file__).parent / "loan" / "sei.yaml"
    manifest = (
        project.manifest()
        if source == "project"
        else load_manifest_text(path.read_text(), str(path))
    )
    analysis = analyze(manifest.risk).to_dict()
    assert len(analysis["risk_analysis"]) >= 1
    jcs = rfc8785.dumps(analysis)
    assert jcs == evidence.canonical_json(analysis)
    assert statement.analysis_digest(manifest) == f"sha256:{hashlib.sha256(jcs).hexdigest()}"
