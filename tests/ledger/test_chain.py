"""The verifier's checkpoint chain: one Ed25519 check per run of linked checkpoints,
each checkpoint still vouched for, and the first bad one still named exactly."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import Signer

from seid.ledger import chain, checkpoint, merkle, records, verify
from seid.ledger.log import Ledger
from seid.ledger.signatures import Workers
from tests.ledger.conftest import EntryMaker
from tests.ledger.test_checkpoint import noncanonical

Pair = tuple[bytes, bytes]


def chained(repo: Path, signer: Signer, make: EntryMaker, n: int) -> list[Pair]:
    with Ledger.open(repo, signer.public_key.keyid, create=True) as ledger:
        for i in range(n):
            ledger.append(make(i), signer)
        return list(ledger.records())


def unchained(signer: Signer, make: EntryMaker, n: int) -> list[Pair]:
    """Records as a log written before checkpoints carried a ``previous`` line."""
    compact, pairs = merkle.CompactRange(), []
    for i in range(n):
        entry = make(i)
        compact.append(merkle.leaf_hash(entry))
        note = checkpoint.sign(signer.public_key.keyid, i + 1, compact.root(), signer)
        pairs.append((entry, note))
    return pairs


def run(signer: Signer, pairs: list[Pair]) -> verify.LogReport:
    data = b"".join(records.pack_pair(e, n) for e, n in pairs)
    key = signer.public_key
    return verify.verify_stream(io.BytesIO(data), key.keyid, key, "t", expected_size=len(pairs))


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the checkpoints whose signature the verifier checks with Ed25519."""
    seen: list[int] = []
    real: Callable[..., Any] = checkpoint.verify

    def counting(note: bytes, *args: Any) -> checkpoint.Checkpoint:
        seen.append(checkpoint.read(note, args[0]).size)
        return real(note, *args)  # type: ignore[no-any-return]

    monkeypatch.setattr(checkpoint, "verify", counting)
    monkeypatch.setattr(chain, "ANCHOR", 4)
    return seen


def test_a_chain_costs_one_check_per_anchor(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker, counted: list[int]
) -> None:
    pairs = chained(ledger_repo, signer, make_entry, 11)
    counted.clear()  # appends check the note they extend
    report = run(signer, pairs)
    assert report.ok and report.size == 11, report.problems
    # the first run closes at ANCHOR + 1 notes, later ones at ANCHOR past their verified base
    assert counted == [5, 9, 11]


def test_unchained_checkpoints_are_each_checked(
    signer: Signer, make_entry: EntryMaker, counted: list[int]
) -> None:
    pairs = unchained(signer, make_entry, 6)
    assert run(signer, pairs).ok
    assert counted == [1, 2, 3, 4, 5, 6]
    counted.clear()
    stamp = pairs[3][1].rindex(b" ") + 1
    forged = pairs[3][1][:stamp] + base64.b64encode(b"\1" * 68) + b"\n"
    report = run(signer, [*pairs[:3], (pairs[3][0], forged), *pairs[4:]])
    assert report.first is not None and report.first.entry == 3
    assert "does not verify" in report.first.reason or "not signed" in report.first.reason


def test_a_chained_log_may_follow_an_unchained_prefix(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker
) -> None:
    old = unchained(signer, make_entry, 3)
    with Ledger.open(ledger_repo, signer.public_key.keyid, create=True) as ledger:
        (ledger.path / "log").write_bytes(b"".join(records.pack_pair(e, n) for e, n in old))
    with Ledger.open(ledger_repo, signer.public_key.keyid, write=True) as ledger:  # rolls forward
        ledger.append(make_entry(3), signer)
        pairs = list(ledger.records())
    linked = checkpoint.read(pairs[3][1], signer.public_key.keyid).previous
    assert linked == checkpoint.link(old[2][1])
    assert run(signer, pairs).ok


def relink(note: bytes, previous: bytes) -> bytes:
    """``note`` with its previous line pointing at ``previous`` (its signature now stale)."""
    lines = note.split(b"\n")
    lines[3] = b"previous " + base64.b64encode(checkpoint.link(previous))
    return b"\n".join(lines)


def test_a_relinked_forgery_is_traced_back_to_its_first_note(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker, counted: list[int]
) -> None:
    pairs = chained(ledger_repo, signer, make_entry, 8)
    stamp = pairs[2][1].rindex(b" ") + 1
    forged2 = pairs[2][1][:stamp] + base64.b64encode(b"\2" * 68) + b"\n"
    forged3 = relink(pairs[3][1], forged2)  # links to the forgery, so note 3 is forged too
    tampered = [*pairs[:2], (pairs[2][0], forged2), (pairs[3][0], forged3), *pairs[4:]]
    counted.clear()
    report = run(signer, tampered)
    assert [p.entry for p in report.problems] == [2, 3], report.problems
    assert report.bad_entries == 2
    assert sorted(counted) == [2, 3, 4, 8]  # note 4 does not link to 3: 3, then 2 checked


def test_a_link_to_the_wrong_note_is_named(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker
) -> None:
    pairs = chained(ledger_repo, signer, make_entry, 5)
    tampered = [*pairs[:3], (pairs[3][0], relink(pairs[3][1], pairs[1][1])), *pairs[4:]]
    report = run(signer, tampered)
    reasons = {p.reason for p in report.problems if p.entry == 3}
    assert report.first is not None and report.first.entry == 3
    assert "checkpoint does not link to the checkpoint before it" in reasons


def test_a_first_checkpoint_claiming_a_predecessor_is_named(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker
) -> None:
    pairs = chained(ledger_repo, signer, make_entry, 2)
    root = merkle.leaf_hash(pairs[0][0])
    first = checkpoint.sign(signer.public_key.keyid, 1, root, signer, previous=b"no such note")
    report = run(signer, [(pairs[0][0], first), pairs[1]])
    assert [(p.entry, p.reason) for p in report.problems][:1] == [
        (0, "first checkpoint links to an earlier one")
    ]


def test_a_reencoded_signature_line_is_named_at_its_own_entry(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker
) -> None:
    """Found by a wide random run: the same signature bytes in another base64 spelling
    broke the chain at the next note, and had to be named at this one."""
    pairs = chained(ledger_repo, signer, make_entry, 3)
    report = run(signer, [(pairs[0][0], noncanonical(pairs[0][1])), *pairs[1:]])
    assert report.first is not None and report.first.entry == 0
    assert "not canonical base64" in report.first.reason


def test_verify_keeps_the_roots_witnesses_ask_for(
    ledger_repo: Path, signer: Signer, make_entry: EntryMaker
) -> None:
    """One pass serves the witness check: the roots at the cosigned sizes are kept, and
    they are the roots the log's own checkpoints state at those sizes."""
    pairs = chained(ledger_repo, signer, make_entry, 7)
    data = b"".join(records.pack_pair(e, n) for e, n in pairs)
    key = signer.public_key
    report = verify.verify_stream(io.BytesIO(data), key.keyid, key, "t", roots_at={1, 4, 9})
    assert report.ok and set(report.roots) == {1, 4}  # the log has no size 9
    for size in (1, 4):
        assert report.roots[size] == checkpoint.parse(pairs[size - 1][1])[0].root
    workers = Workers(2)
    with workers:
        parallel = verify.verify_stream(io.BytesIO(data), key.keyid, key, "t", workers=workers)
    assert parallel.ok and parallel.root == report.root and parallel.size == 7
