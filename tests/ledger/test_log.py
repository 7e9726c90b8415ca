"""The Merkle log on disk: append, read, proofs, recovery, locking."""

from __future__ import annotations

import base64
import io
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from securesystemslib.signer import Signer

from seid import evidence
from seid.ledger import checkpoint, merkle, records
from seid.ledger.log import Ledger, LedgerError, list_logs
from tests.conftest import ROOT
from tests.ledger.conftest import EntryMaker, make_key


def fill(repo: Path, signer: Signer, make: EntryMaker, n: int) -> tuple[Ledger, list[bytes]]:
    ledger = Ledger.open(repo, signer.public_key.keyid, create=True)
    entries = [make(i) for i in range(n)]
    for i, entry in enumerate(entries):
        index, note = ledger.append(entry, signer)
        assert index == i
        cp = checkpoint.verify(note, ledger.log_id, signer.public_key)
        assert cp.size == i + 1
    return ledger, entries


def test_append_read_and_prove(ledger_repo: Path, signer: Signer, make_entry: EntryMaker) -> None:
    ledger, entries = fill(ledger_repo, signer, make_entry, 21)
    leaves = [merkle.leaf_hash(e) for e in entries]
    assert ledger.size == 21 and list(ledger.iter_entries()) == entries
    for size in (1, 8, 13, 21):
        root = merkle.root_of(leaves[:size])
        assert ledger.root(size) == root
        assert checkpoint.parse(ledger.checkpoint(size - 1))[0].root == root
        for i in range(size):
            merkle.verify_inclusion(leaves[i], i, size, ledger.inclusion_proof(i, size), root)
        for m in range(1, size + 1):
            proof = ledger.consistency_proof(m, size)
            merkle.verify_consistency(m, size, proof, merkle.root_of(leaves[:m]), root)
    assert [ledger.entry(i) for i in (0, 20)] == [entries[0], entries[20]]
    ledger.close()
    with Ledger.open(ledger_repo, signer.public_key.keyid) as again:
        assert again.size == 21 and again.notices == [] and again.root() == ledger.root(21)
        assert list(again.checkpoints())[-1] == again.latest_checkpoint()
    assert list_logs(ledger_repo) == [signer.public_key.keyid]


def test_bad_requests(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker, tmp_path: Path
) -> None:
    ledger, _ = fill(ledger_repo, signer, make_entry, 3)
    for call in (
        lambda: ledger.entry(3),
        lambda: ledger.entry(-1),
        lambda: ledger.inclusion_proof(0, 4),
        lambda: ledger.consistency_proof(0, 2),
        lambda: ledger.consistency_proof(3, 2),
    ):
        with pytest.raises(LedgerError):
            call()
    other = make_key(tmp_path, None, "other")
    with pytest.raises(LedgerError, match="cannot append"):
        ledger.append(make_entry(9), other)
    with pytest.raises(LedgerError, match="does not verify"):
        ledger.append(make_entry(9).replace(b'"sig":"', b'"sig":"AA'), signer)
    with pytest.raises(LedgerError, match="no ledger"):
        Ledger.open(ledger_repo, "ab" * 32)
    with pytest.raises(Exception, match="bad log id"):
        Ledger.open(ledger_repo, "../../etc")


def test_torn_tail_is_cut_and_reported(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker, caplog: pytest.LogCaptureFixture
) -> None:
    ledger, entries = fill(ledger_repo, signer, make_entry, 5)
    ledger.close()
    log_file = ledger.path / "log"
    whole = log_file.read_bytes()
    for tail in (b"\x00", b"\x00\x00\x01\x00garbage", whole[-200:-3]):
        log_file.write_bytes(whole + tail)
        with Ledger.open(ledger_repo, ledger.log_id, write=True) as again:
            assert again.size == 5 and list(again.iter_entries()) == entries
            assert len(again.notices) == 1 and "torn tail" in again.notices[0]
        assert log_file.read_bytes() == whole
    assert "torn tail" in caplog.text


def test_whole_unindexed_record_is_rolled_forward(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker
) -> None:
    """A writer killed after its fsync but before the head: the entry was durable, keep it."""
    ledger, _ = fill(ledger_repo, signer, make_entry, 6)
    ledger.close()
    head = (ledger.path / "head").read_bytes()
    ledger2 = Ledger.open(ledger_repo, ledger.log_id, write=True)
    ledger2.append(make_entry(6), signer)
    ledger2.close()
    (ledger.path / "head").write_bytes(head)  # the head of size 6: as if it never moved
    with (ledger.path / "index").open("r+b") as f:
        f.truncate(8 * 6)
    with Ledger.open(ledger_repo, ledger.log_id) as again:
        assert again.size == 7 and again.entry(6) == make_entry(6)
        assert "rolled forward to size 7" in again.notices[0]
        assert again.root() == merkle.root_of(merkle.leaf_hash(e) for e in again.iter_entries())


@pytest.mark.parametrize("damage", ["head", "index", "tree", "garbage-head"])
def test_derived_files_are_rebuilt(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker, damage: str
) -> None:
    ledger, entries = fill(ledger_repo, signer, make_entry, 9)
    ledger.close()
    root = ledger.root()
    target = {
        "head": ledger.path / "head",
        "index": ledger.path / "index",
        "tree": ledger.path / "tree" / "1",
        "garbage-head": ledger.path / "head",
    }[damage]
    if damage == "garbage-head":
        target.write_bytes(os.urandom(40))
    else:
        target.unlink()
    with Ledger.open(ledger_repo, ledger.log_id) as again:
        assert again.size == 9 and again.root() == root
        merkle.verify_inclusion(merkle.leaf_hash(entries[4]), 4, 9, again.inclusion_proof(4), root)


def test_log_shorter_than_head_is_an_error(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker
) -> None:
    ledger, _ = fill(ledger_repo, signer, make_entry, 4)
    ledger.close()
    data = (ledger.path / "log").read_bytes()
    (ledger.path / "log").write_bytes(data[:-50])
    with pytest.raises(LedgerError, match="shorter than its head"):
        Ledger.open(ledger_repo, ledger.log_id)
    (ledger.path / "log").write_bytes(data[:10] + b"\xff" + data[11:])
    with Ledger.open(ledger_repo, ledger.log_id) as opened:  # the head is whole: no scan
        with pytest.raises(LedgerError, match="checksum"):
            opened.entry(0)
        with pytest.raises(LedgerError, match="checksum"):
            list(opened.iter_entries())


def test_read_only_ledger_is_readable(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker
) -> None:
    ledger, entries = fill(ledger_repo, signer, make_entry, 3)
    ledger.close()
    if os.geteuid() == 0:
        pytest.skip("root ignores permissions")
    os.chmod(ledger.path, 0o555)
    try:
        with Ledger.open(ledger_repo, ledger.log_id, write=True) as ro:
            assert list(ro.iter_entries()) == entries
            with pytest.raises(LedgerError, match="not writable"):
                ro.append(make_entry(3), signer)
    finally:
        os.chmod(ledger.path, 0o755)


def test_two_processes_append_serialised(ledger_repo: Path, tmp_path: Path) -> None:
    from seid import keys

    made = keys.generate(tmp_path / "k", "seid")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.ledger.writer",
                str(ledger_repo),
                str(made.private_path),
                tag,
                "0",
                "40",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    indexes = sorted(int(line.split()[1]) for out in outputs for line in out.splitlines())
    assert indexes == list(range(80))
    signer = keys.load_signer(made.private_path)
    with Ledger.open(ledger_repo, made.key_id) as ledger:
        leaves, before = [], None
        for i, (entry, note) in enumerate(ledger.records()):
            evidence.verify(entry, {made.key_id: signer.public_key})
            leaves.append(merkle.leaf_hash(entry))
            cp = checkpoint.verify(note, made.key_id, signer.public_key)
            assert (cp.size, cp.root) == (i + 1, merkle.root_of(leaves))
            # each writer chained to the note the other wrote just before, under the lock
            assert cp.previous == (checkpoint.link(before) if before else None)
            before = note
        assert len(leaves) == 80


def test_verify_notes_an_unrecovered_torn_tail(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker
) -> None:
    """A crash nobody has recovered from yet: verify (read-only) notes it, passes, cuts nothing."""
    from seid.ledger.verify import verify_repo

    ledger, _ = fill(ledger_repo, signer, make_entry, 3)
    ledger.close()
    log_file = ledger.path / "log"
    log_file.write_bytes(log_file.read_bytes() + b"\x00\x00\x10\x00torn")
    (report,) = verify_repo(ledger_repo)
    assert report.ok and report.size == 3 and "interrupted append" in report.notices[0]
    assert log_file.read_bytes().endswith(b"torn")


def test_every_checkpoint_chains_to_the_one_before(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker
) -> None:
    ledger, _ = fill(ledger_repo, signer, make_entry, 4)
    notes = list(ledger.checkpoints())
    ledger.close()
    assert checkpoint.read(notes[0], signer.public_key.keyid).previous is None
    for before, note in itertools.pairwise(notes):
        assert checkpoint.read(note, signer.public_key.keyid).previous == checkpoint.link(before)


def test_append_refuses_to_seal_an_altered_newest_checkpoint(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker
) -> None:
    ledger, _ = fill(ledger_repo, signer, make_entry, 3)
    path = ledger.path / "log"
    ledger.close()
    data = path.read_bytes()
    # a forged signature line on the newest note, record checksum recomputed as an
    # attacker would: chaining over it would vouch for the forgery
    pairs = list(records.iterate_pairs(io.BytesIO(data)))
    entry, note = pairs[-1]
    forged = note[: note.rindex(b" ") + 1] + base64.b64encode(b"\0" * 68) + b"\n"
    head = b"".join(records.pack_pair(e, n) for e, n in pairs[:-1])
    path.write_bytes(head + records.pack_pair(entry, forged))
    with Ledger.open(ledger_repo, signer.public_key.keyid, write=True) as again:
        with pytest.raises(LedgerError, match=r"newest checkpoint .* does not verify"):
            again.append(make_entry(3), signer)
        assert again.size == 3
    assert path.read_bytes() == head + records.pack_pair(entry, forged)


def test_a_writer_that_stays_open_still_refuses_a_note_altered_under_it(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker
) -> None:
    """A writer skips re-checking the checkpoint it signed itself only while the bytes on
    disk are those bytes: a note forged in place between two appends (a daemon keeps its
    ledger open for hours) is checked and refused."""
    ledger, _ = fill(ledger_repo, signer, make_entry, 3)
    path = ledger.path / "log"
    pairs = list(records.iterate_pairs(io.BytesIO(path.read_bytes())))
    entry, note = pairs[-1]
    forged = note[: note.rindex(b" ") + 1] + base64.b64encode(b"\1" * 68) + b"\n"
    head = b"".join(records.pack_pair(e, n) for e, n in pairs[:-1])
    with path.open("r+b") as same_file:  # the writer's descriptor sees the new bytes
        same_file.write(head + records.pack_pair(entry, forged))
    with pytest.raises(LedgerError, match=r"newest checkpoint .* does not verify"):
        ledger.append(make_entry(3), signer)
    ledger.close()
