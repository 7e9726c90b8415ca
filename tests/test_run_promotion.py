"""A promotion after a passing gate is recorded in the ledger, where replay can judge it."""

from __future__ import annotations

from pathlib import Path

import pytest

from seid import evidence, keys
from seid.ledger.log import Ledger
from seid.promote import PROMOTION_PREDICATE
from seid.replay.join import join
from seid.reproducers.command import CommandReproducer
from seid.reproducers.result import RunResult
from seid.run import run
from tests.conftest import git


@pytest.fixture
def promoting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command tool has no registry; pretend it has one."""

    def promote(self: CommandReproducer, result: RunResult) -> str:
        return "toy@champion"

    monkeypatch.setattr(CommandReproducer, "promote", promote)
    monkeypatch.setattr(CommandReproducer, "registry", True)


@pytest.mark.usefixtures("promoting")
def test_a_promotion_is_a_statement_bound_to_the_passing_bundle(
    command_project: tuple[Path, Path],
) -> None:
    repo, key = command_project
    signer = keys.load_signer(key)
    (repo / "params.json").write_text('{"gap": 0.01}')
    report = run(repo, signer, echo=False)
    assert report.gate == "pass" and report.promoted == "toy@champion"
    assert report.attestation is not None
    with Ledger.open(repo, signer.public_key.keyid) as ledger:
        bundle, promotion = (evidence.decode(e) for e in ledger.iter_entries())
    assert bundle["predicateType"] == evidence.EVIDENCE_PREDICATE
    assert promotion["predicateType"] == PROMOTION_PREDICATE
    predicate = promotion["predicate"]
    head = git(repo, "rev-parse", "HEAD").strip()
    assert predicate["git"] == {"commit": head}
    assert predicate["promoted"] == "toy@champion"
    assert predicate["evidence"] == f"sha256:{report.attestation.entry_sha256}"
    [found] = join(repo).promotions
    assert (found.commit, found.index, found.at) == (head, 1, predicate["at"])


@pytest.mark.usefixtures("promoting")
def test_a_failing_gate_promotes_and_records_nothing(command_project: tuple[Path, Path]) -> None:
    repo, key = command_project
    signer = keys.load_signer(key)
    (repo / "params.json").write_text('{"gap": 0.09}')
    report = run(repo, signer, echo=False)
    assert report.gate == "fail" and report.promoted is None
    with Ledger.open(repo, signer.public_key.keyid) as ledger:
        assert ledger.size == 1
    assert join(repo).promotions == []
