"""The derived files (head, index, tree/) are checked before a writer trusts them: after
any single mutation of one and a further append, no acknowledged entry is lost and no
checkpoint is signed over a wrong root."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from securesystemslib.signer import Signer

from seid.ledger import checkpoint, merkle, records
from seid.ledger.log import Head, Ledger, LedgerError
from tests.conftest import SeidRunner
from tests.ledger.conftest import EntryMaker, entry_maker, make_key
from tests.ledger.test_log import fill

SIZE = 7  # subtrees at levels 0, 1 and 2, and a partial right edge


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _head(path: Path, head: Head) -> None:
    """A head file whose both slots carry ``head`` with a right checksum."""
    (path / "head").write_bytes(records.pack_head(head) * 2)


MUTATIONS: dict[str, Callable[[Path, Head], None]] = {
    "tree/0 byte": lambda p, h: _flip(p / "tree" / "0", 5),
    "tree/1 byte": lambda p, h: _flip(p / "tree" / "1", 33),
    "tree/2 byte": lambda p, h: _flip(p / "tree" / "2", 0),
    "index byte": lambda p, h: _flip(p / "index", 8 * (SIZE - 1) + 7),
    "head size short": lambda p, h: _head(p, Head(h.size - 3, h.length)),
    "head length short": lambda p, h: _head(p, Head(h.size, h.length - 40)),
    "head both short": lambda p, h: _head(p, Head(2, 900)),
    "head past the log": lambda p, h: _head(p, Head(h.size + 5, h.length)),
    "tree gone": lambda p, h: shutil.rmtree(p / "tree"),
    "index gone": lambda p, h: (p / "index").unlink(),
    "head gone": lambda p, h: (p / "head").unlink(),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_mutated_derived_file_loses_nothing_and_signs_no_wrong_root(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker, mutation: str
) -> None:
    ledger, entries = fill(ledger_repo, signer, make_entry, SIZE)
    head = ledger.head
    ledger.close()
    MUTATIONS[mutation](ledger.path, head)
    (ledger.path / "tree").mkdir(exist_ok=True)
    with Ledger.open(ledger_repo, ledger.log_id, write=True) as again:
        index, note = again.append(make_entry(SIZE), signer)
        assert index == SIZE
        stored = list(again.iter_entries())
        assert stored == [*entries, make_entry(SIZE)]
        signed = checkpoint.verify(note, again.log_id, signer.public_key)
        expected = merkle.root_of(merkle.leaf_hash(e) for e in stored)
        assert (signed.size, signed.root) == (SIZE + 1, expected)
        assert again.root() == expected
        for i in range(SIZE + 1):  # a proof is handed out only when it verifies
            try:
                proof = again.inclusion_proof(i)
            except LedgerError as err:
                assert "seid verify --repair" in str(err)
                continue
            merkle.verify_inclusion(merkle.leaf_hash(stored[i]), i, SIZE + 1, proof, signed.root)


def test_verify_names_a_damaged_subtree_and_repair_rebuilds_it(
    seid: SeidRunner, repo: Path, tmp_path: Path
) -> None:
    """An inner subtree hash no append reads (tree/1, leaves 2 and 3 of 7): the writer's
    check cannot see it, verify does, proofs through it are refused, --repair fixes it."""
    signer = make_key(tmp_path, repo)
    ledger, entries = fill(repo, signer, entry_maker(signer), SIZE)
    ledger.close()
    _flip(ledger.path / "tree" / "1", 33)
    proof = seid("ledger", "proof", "0", cwd=repo)
    assert proof.code != 0 and "seid verify --repair" in proof.err
    bad = seid("verify", cwd=repo)
    assert bad.code == 1
    assert "derived file tree/1: subtree 1 is not the hash of its leaves" in bad.out
    fixed = seid("verify", "--repair", cwd=repo)
    assert fixed.code == 0 and f"{SIZE} entries" in fixed.out, fixed.out + fixed.err
    assert seid("ledger", "proof", "0", cwd=repo).code == 0
    with Ledger.open(repo, ledger.log_id) as again:
        assert list(again.iter_entries()) == entries
