"""The newest statement of a kind, found from the end of the local logs."""

from __future__ import annotations

import os
from pathlib import Path

from securesystemslib.signer import Signer

from seid import evidence
from seid.ledger.log import Ledger
from seid.ledger.newest import latest_statement
from tests.ledger.conftest import EntryMaker, make_key


def test_latest_statement(ledger_repo: Path, signer: Signer, make_entry: EntryMaker) -> None:
    assert latest_statement(ledger_repo, evidence.EVIDENCE_PREDICATE) is None
    other = evidence.sign(
        evidence.statement([evidence.Subject("a", "0" * 64)], "https://x/approval/v1", {}), signer
    )
    with Ledger.open(ledger_repo, signer.public_key.keyid, create=True) as ledger:
        for i in range(3):
            ledger.append(make_entry(i), signer)
        ledger.append(other, signer)
    found = latest_statement(ledger_repo, evidence.EVIDENCE_PREDICATE)
    assert found is not None and found["predicate"] == {"run": 2}
    assert latest_statement(ledger_repo, "https://x/none") is None


def _bundle(signer: Signer, run: str, finished: str | None) -> bytes:
    predicate: dict[str, object] = {"run": run}
    if finished is not None:
        predicate["pipeline"] = {"finished": finished}
    subject = evidence.Subject(f"out/{run}.bin", "0" * 64)
    return evidence.sign(
        evidence.statement([subject], evidence.EVIDENCE_PREDICATE, predicate), signer
    )


def test_latest_statement_across_logs_goes_by_finished_then_index(
    ledger_repo: Path, signer: Signer, tmp_path: Path
) -> None:
    """Which bundle is the newest is what the bundles say, not the log files' mtimes."""
    other = make_key(tmp_path, ledger_repo, "other")
    mine = Ledger.open(ledger_repo, signer.public_key.keyid, create=True)
    theirs = Ledger.open(ledger_repo, other.public_key.keyid, create=True)
    mine.append(_bundle(signer, "mine-late", "2026-05-02T10:00:00+00:00"), signer)
    for run in ("theirs-0", "theirs-early"):  # appended last: the newer log file
        theirs.append(_bundle(other, run, "2026-05-01T10:00:00Z"), other)

    def latest() -> object:
        found = latest_statement(ledger_repo, evidence.EVIDENCE_PREDICATE)
        return None if found is None else found["predicate"]["run"]

    assert latest() == "mine-late"
    os.utime(theirs.path / "log", (0, 0))  # a log copied or touched changes nothing
    os.utime(mine.path / "log", (1, 1))
    assert latest() == "mine-late"
    # The same instant (written in another zone): the higher ledger index wins.
    theirs.append(_bundle(other, "theirs-tie", "2026-05-02T12:00:00+02:00"), other)
    assert latest() == "theirs-tie"
    mine.append(_bundle(signer, "mine-later", "2026-05-03T00:00:00+00:00"), signer)
    assert latest() == "mine-later"
    mine.close()
    theirs.close()


def test_latest_statement_without_times_goes_by_index(
    ledger_repo: Path, signer: Signer, tmp_path: Path
) -> None:
    other = make_key(tmp_path, ledger_repo, "other")
    with Ledger.open(ledger_repo, signer.public_key.keyid, create=True) as mine:
        for run in ("a0", "a1", "a2"):
            mine.append(_bundle(signer, run, None), signer)
    with Ledger.open(ledger_repo, other.public_key.keyid, create=True) as theirs:
        theirs.append(_bundle(other, "b0", None), other)
        theirs.append(_bundle(other, "b1", "not a time"), other)
    found = latest_statement(ledger_repo, evidence.EVIDENCE_PREDICATE)
    assert found is not None and found["predicate"]["run"] == "a2"
