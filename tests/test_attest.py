"""attest.append: the head an entry records is the head it was appended to."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from seid import attest, evidence, keys
from seid.ledger.log import Ledger
from seid.ledger.verify import verify_repo
from tests.ledger.conftest import make_key

WRITERS, EACH = 4, 25


def _write(root: str, key: str, n: int) -> None:
    signer = keys.load_signer(Path(key))
    for _ in range(n):
        attest.append(Path(root), signer, [evidence.Subject("m", "0" * 64)], {"gate": "pass"})


def test_concurrent_writers_record_the_head_they_extend(tmp_path: Path) -> None:
    """Four processes appending at once: every entry's predicate.ledger.previous_size and
    previous_root are the log's own at its index (133 of 1,200 were wrong when the head
    was read before the lock), and verify checks exactly that."""
    repo = tmp_path / "repo"
    repo.mkdir()
    made = keys.generate(tmp_path / "keys", "seid")
    keys.add_trusted(repo, made.public_path)
    context = multiprocessing.get_context("spawn")
    procs = [
        context.Process(target=_write, args=(str(repo), str(made.private_path), EACH))
        for _ in range(WRITERS)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    (report,) = verify_repo(repo)
    assert report.ok, report.problems[:3]
    assert report.size == WRITERS * EACH
    with Ledger.open(repo, made.key_id) as ledger:
        for i in (0, 1, report.size - 1):
            recorded = evidence.decode(ledger.entry(i))["predicate"]["ledger"]
            assert recorded["previous_size"] == i
            root = ledger.root(i).hex() if i else None
            assert recorded["previous_root"] == root


def test_verify_names_an_entry_that_records_another_head(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    signer = make_key(tmp_path, repo)
    attest.append(repo, signer, [evidence.Subject("m", "0" * 64)], {"gate": "pass"})
    wrong = {"gate": "pass", "ledger": {"previous_size": 0, "previous_root": None}}
    statement = evidence.statement(
        [evidence.Subject("m", "1" * 64)], evidence.EVIDENCE_PREDICATE, wrong
    )
    with Ledger.open(repo, signer.public_key.keyid, write=True) as ledger:
        ledger.append(evidence.sign(statement, signer), signer)
    (report,) = verify_repo(repo)
    assert [p.entry for p in report.problems] == [1]
    assert "extends the log at size 0, but it follows 1 entries" in report.problems[0].reason
