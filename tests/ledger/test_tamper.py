"""Tamper detection: every mutation of a log makes verification fail at the right entry.

The attacker here may rewrite anything on disk (and recompute the record checksums),
but has no signing key. Mutations are applied in memory and verified in-process, so
hypothesis can try well over a thousand of them quickly; the CLI is exercised in
tests/cli/test_cli_ledger.py.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from securesystemslib.signer import Key

from seid.ledger import records
from seid.ledger.log import Ledger
from seid.ledger.verify import verify_stream
from tests.ledger.conftest import entry_maker, make_key

N = 8
Pair = tuple[bytes, bytes]


@dataclass(frozen=True, repr=False)
class Logs:
    log_id: str
    key: Key
    pairs: list[Pair]
    foreign: list[Pair]  # another log's records, same sizes
    raw: bytes


def build(root: Path, tag: str, n: int) -> tuple[str, Key, list[Pair], bytes]:
    signer = make_key(root, None, tag)
    make = entry_maker(signer)
    with Ledger.open(root, signer.public_key.keyid, create=True) as ledger:
        for i in range(n):
            ledger.append(make(i), signer)
        pairs = list(ledger.records())
        raw = (ledger.path / "log").read_bytes()
    return signer.public_key.keyid, signer.public_key, pairs, raw


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Logs:
    root = tmp_path_factory.mktemp("tamper")
    log_id, key, pairs, raw = build(root, "a", N)
    _, _, foreign, _ = build(root, "b", N)
    return Logs(log_id, key, pairs, foreign, raw)


def check(logs: Logs, data: bytes, expected_first: int) -> None:
    report = verify_stream(io.BytesIO(data), logs.log_id, logs.key, "test", expected_size=N)
    assert not report.ok, "tampering went unnoticed"
    assert report.first is not None and report.first.entry == expected_first, report.problems
    assert report.bad_entries >= 1


def test_untouched_log_verifies(logs: Logs) -> None:
    report = verify_stream(io.BytesIO(logs.raw), logs.log_id, logs.key, "t", expected_size=N)
    assert report.ok and report.size == N
    assert b"".join(records.pack_pair(*p) for p in logs.pairs) == logs.raw


def encode(pairs: list[Pair]) -> bytes:
    return b"".join(records.pack_pair(e, c) for e, c in pairs)


def flip(data: bytes, pos: int, bit: int) -> bytes:
    return data[:pos] + bytes([data[pos] ^ (1 << bit)]) + data[pos + 1 :]


def replace_signature(blob: bytes, donor: bytes, marker: bytes) -> bytes:
    """Put the donor's signature (the text after ``marker``) into ``blob``."""
    head, _, _ = blob.rpartition(marker)
    _, _, sig = donor.rpartition(marker)
    return head + marker + sig


class Mutated(bytes):
    """Mutated log bytes that print short (hypothesis shows failing draws)."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes>"


def mutation(logs: Logs) -> st.SearchStrategy[tuple[str, bytes, int]]:
    return _mutation(logs).map(lambda m: (m[0], Mutated(m[1]), m[2]))


@st.composite
def _mutation(draw: st.DrawFn, logs: Logs) -> tuple[str, bytes, int]:
    """``(kind, mutated log bytes, index of the first entry that must be reported)``."""
    pairs = list(logs.pairs)
    kind = draw(
        st.sampled_from(
            [
                "flip-entry", "flip-checkpoint", "flip-raw", "delete", "duplicate",
                "reorder", "insert", "truncate", "entry-signature", "checkpoint-signature",
                "foreign-checkpoint", "foreign-entry", "extra-signature-line",
            ]
        )
    )  # fmt: skip
    i = draw(st.integers(0, N - 1))
    if kind in ("flip-entry", "flip-checkpoint"):
        part = 0 if kind == "flip-entry" else 1
        blob = pairs[i][part]
        changed = flip(blob, draw(st.integers(0, len(blob) - 1)), draw(st.integers(0, 7)))
        pairs[i] = (changed, pairs[i][1]) if part == 0 else (pairs[i][0], changed)
        return kind, encode(pairs), i
    if kind == "flip-raw":
        pos = draw(st.integers(0, len(logs.raw) - 1))
        return kind, flip(logs.raw, pos, draw(st.integers(0, 7))), record_at(logs, pos)
    if kind == "delete":
        del pairs[i]
        return kind, encode(pairs), i
    if kind == "duplicate":
        pairs.insert(i, pairs[i])
        return kind, encode(pairs), i + 1
    if kind == "reorder":
        j = draw(st.integers(0, N - 1).filter(lambda j: j != i))
        pairs[i], pairs[j] = pairs[j], pairs[i]
        return kind, encode(pairs), min(i, j)
    if kind == "insert":
        donor = draw(
            st.sampled_from([logs.foreign[i], logs.pairs[(i + 1) % N], (pairs[i][0], b"")])
        )
        pairs.insert(i, donor)
        return kind, encode(pairs), i
    if kind == "truncate":
        cut = draw(st.integers(0, len(logs.raw) - 1))
        return kind, logs.raw[:cut], record_at(logs, cut)
    j = draw(st.integers(0, N - 1).filter(lambda j: j != i))
    if kind == "entry-signature":
        pairs[i] = (replace_signature(pairs[i][0], pairs[j][0], b'"sig":"'), pairs[i][1])
    elif kind == "checkpoint-signature":
        pairs[i] = (pairs[i][0], replace_signature(pairs[i][1], pairs[j][1], b" "))
    elif kind == "foreign-checkpoint":
        pairs[i] = (pairs[i][0], logs.foreign[i][1])
    elif kind == "extra-signature-line":  # a cosignature, by another key or this one again
        donor = draw(st.sampled_from([logs.foreign[j][1], pairs[i][1], pairs[j][1]]))
        line = donor.rstrip(b"\n").rsplit(b"\n", 1)[1]
        pairs[i] = (pairs[i][0], pairs[i][1] + line + b"\n")
    else:
        pairs[i] = (logs.foreign[i][0], pairs[i][1])
    return kind, encode(pairs), i


def record_at(logs: Logs, pos: int) -> int:
    """Index of the record that holds byte ``pos`` of the log."""
    offset = 0
    for i, pair in enumerate(logs.pairs):
        offset += len(records.pack_pair(*pair))
        if pos < offset:
            return i
    return N


KINDS = 13  # the mutation kinds `mutation` draws from


def test_every_mutation_is_detected(logs: Logs) -> None:
    """2,500 derandomised mutations, every one detected at the right entry; the same
    test holds that every kind was drawn, so it cannot pass without having fuzzed."""
    seen: set[str] = set()

    @settings(
        max_examples=2500,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(data=st.data())
    def each(data: st.DataObject) -> None:
        kind, mutated, first = data.draw(mutation(logs))
        assert mutated != logs.raw
        seen.add(kind)
        check(logs, mutated, first)

    each()
    assert len(seen) == KINDS, sorted(seen)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(garbage=st.binary(min_size=1, max_size=2000).map(Mutated))
def test_garbage_is_reported_never_raised(logs: Logs, garbage: bytes) -> None:
    report = verify_stream(io.BytesIO(garbage), logs.log_id, logs.key, "garbage")
    assert not report.ok and report.first is not None and report.first.entry == 0
