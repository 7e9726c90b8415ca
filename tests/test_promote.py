"""Promotion under an approval policy: ``seid run`` holds it, ``seid promote`` does it once
the passing bundle is approved, and replay then finds nothing unapproved."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from securesystemslib.signer import Signer  # type: ignore[attr-defined]

from seid import evidence, keys
from seid.cli.run import as_text
from seid.errors import SeidError
from seid.ledger.log import Ledger
from seid.promote import PROMOTION_PREDICATE, promote
from seid.replay.approval import review
from seid.replay.history import walk
from seid.replay.join import join
from seid.reproducers.command import CommandReproducer
from seid.reproducers.result import RunResult
from seid.run import run
from tests.conftest import SeidRunner, decide, git


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> list[RunResult]:
    """The command tool has no registry; give it one that records what it was asked."""
    asked: list[RunResult] = []

    def promote_result(self: CommandReproducer, result: RunResult) -> str:
        asked.append(result)
        return "toy@champion"

    monkeypatch.setattr(CommandReproducer, "promote", promote_result)
    monkeypatch.setattr(CommandReproducer, "registry", True)
    return asked


@pytest.fixture
def governed(command_project: tuple[Path, Path]) -> tuple[Path, Signer]:
    """The command project with an ``approval:`` policy committed."""
    repo, key = command_project
    with (repo / "sei.yaml").open("a") as manifest:
        manifest.write("approval:\n  expires: P30D\n")
    git(repo, "commit", "-qam", "approval policy")
    return repo, keys.load_signer(key)


def statements(repo: Path, signer: Signer) -> list[str]:
    with Ledger.open(repo, signer.public_key.keyid) as ledger:
        return [evidence.decode(e)["predicateType"] for e in ledger.iter_entries()]


def test_run_holds_the_promotion_and_promote_does_it_once_approved(
    governed: tuple[Path, Signer], registry: list[RunResult], tmp_path: Path
) -> None:
    repo, signer = governed
    (repo / "params.json").write_text('{"gap": 0.01}')
    report = run(repo, signer, echo=False)
    assert report.gate == "pass" and report.awaiting_approval and report.promoted is None
    assert registry == [] and statements(repo, signer) == [evidence.EVIDENCE_PREDICATE]
    assert "not promoted: the approval policy holds it" in as_text(report)
    assert report.to_dict(repo)["awaiting_approval"] is True
    assert report.attestation is not None
    bundle_ref = f"{report.attestation.log_id[:16]}#{report.attestation.index}"

    with pytest.raises(SeidError, match=rf"holds the promotion: the approval of {bundle_ref}"):
        promote(repo, signer)
    decide(repo, tmp_path, "alice", "request")
    with pytest.raises(SeidError, match="is approval_requested"):
        promote(repo, signer)
    assert registry == []

    decide(repo, tmp_path, "bob", "grant")
    done = promote(repo, signer)
    assert (done.promoted, done.bundle, done.approval) == ("toy@champion", bundle_ref, "approved")
    assert done.commit == git(repo, "rev-parse", "HEAD").strip()
    # the registry was handed the run the bundle records, not a new one
    assert [r.metrics["gap"].value for r in registry] == [0.01]
    assert statements(repo, signer) == [evidence.EVIDENCE_PREDICATE, PROMOTION_PREDICATE]
    with Ledger.open(repo, signer.public_key.keyid) as ledger:
        promotion = evidence.decode(ledger.entry(1))["predicate"]
    assert promotion["evidence"] == f"sha256:{report.attestation.entry_sha256}"

    history = walk(repo)
    found = join(repo, history)
    kinds = [f.kind for f in review(repo, history, found, datetime.now(UTC)).findings]
    assert "unapproved-promotion" not in kinds and len(found.promotions) == 1


def test_promote_refuses_a_bundle_that_did_not_pass(
    governed: tuple[Path, Signer], registry: list[RunResult], tmp_path: Path
) -> None:
    repo, signer = governed
    (repo / "params.json").write_text('{"gap": 0.09}')
    assert run(repo, signer, echo=False).gate == "fail"
    decide(repo, tmp_path, "alice", "request")
    decide(repo, tmp_path, "bob", "grant")  # approving a failing bundle promotes nothing
    with pytest.raises(SeidError, match=r"did not pass its gate \(gate: fail\)"):
        promote(repo, signer)
    assert registry == [] and PROMOTION_PREDICATE not in statements(repo, signer)


def test_without_a_policy_run_promotes_and_promote_has_nothing_to_wait_for(
    command_project: tuple[Path, Path], registry: list[RunResult]
) -> None:
    repo, key = command_project
    signer = keys.load_signer(key)
    (repo / "params.json").write_text('{"gap": 0.01}')
    report = run(repo, signer, echo=False)
    assert report.promoted == "toy@champion" and not report.awaiting_approval
    assert promote(repo, signer).approval is None  # promoting again needs no approval
    assert len(registry) == 2


def test_the_cli_refuses_in_one_line(seid: SeidRunner, command_project: tuple[Path, Path]) -> None:
    repo, key = command_project
    refused = seid("promote", "--key", key, cwd=repo)
    assert refused.code == 2 and refused.out == ""
    assert refused.err.strip().splitlines() == [
        "seid: no evidence bundle by a trusted key in the ledger: run 'seid run' first"
    ]
    (repo / "params.json").write_text('{"gap": 0.01}')
    assert seid("run", "--key", key, cwd=repo).code == 0
    refused = seid("promote", "--key", key, cwd=repo)
    assert refused.code == 2 and "a command pipeline has no model registry" in refused.err
    assert "Traceback" not in refused.err
