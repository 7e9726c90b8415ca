"""RFC 9162 hashing and proofs: public vectors, a reference tree, and hostile input."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seid.ledger import merkle
from seid.ledger.merkle import ProofError
from tests.conftest import CONFORMANCE

VECTORS = sorted((CONFORMANCE / "merkle").glob("*.json"))


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def reference_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH straight from RFC 9162 2.1.1, recursive, over leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = merkle.split_point(len(leaves))
    return merkle.node_hash(reference_mth(leaves[:k]), reference_mth(leaves[k:]))


def tree(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def subtree_of(leaves: Sequence[bytes]) -> merkle.Subtree:
    return lambda start, end: reference_mth(leaves[start:end])


def test_vectors_present() -> None:
    assert len(VECTORS) == 196  # every public vector, inclusion and consistency


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_conformance_vector(path: Path) -> None:
    v: dict[str, Any] = json.loads(path.read_text())
    proof = [b64(p) for p in v["proof"] or []]
    if path.name.startswith("inclusion"):
        args: tuple[Any, ...] = (b64(v["leafHash"]), v["leafIdx"], v["treeSize"], proof)
        check = lambda: merkle.verify_inclusion(*args, b64(v["root"]))  # noqa: E731
    else:
        args = (v["size1"], v["size2"], proof, b64(v["root1"]), b64(v["root2"]))
        check = lambda: merkle.verify_consistency(*args)  # noqa: E731
    if v["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


def test_rfc_hashes() -> None:
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert merkle.root_of([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("n", range(1, 40))
def test_every_proof_round_trips(n: int) -> None:
    leaves = tree(n)
    root = reference_mth(leaves)
    assert merkle.root_of(leaves) == root
    for i in range(n):
        proof = merkle.inclusion_path(i, n, subtree_of(leaves))
        merkle.verify_inclusion(leaves[i], i, n, proof, root)
        for wrong in range(n):
            if wrong != i:
                with pytest.raises(ProofError):
                    merkle.verify_inclusion(leaves[i], wrong, n, proof, root)
    for m in range(1, n + 1):
        proof = merkle.consistency_path(m, n, subtree_of(leaves))
        merkle.verify_consistency(m, n, proof, reference_mth(leaves[:m]), root)
        if m < n:
            with pytest.raises(ProofError):
                merkle.verify_consistency(m, n, proof, reference_mth(leaves[: m + 1]), root)


def test_compact_range_reports_completed_subtrees() -> None:
    compact = merkle.CompactRange()
    leaves = tree(8)
    done = [compact.append(leaf) for leaf in leaves]
    assert [(lvl, pos) for lvl, pos, _ in done[7]] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert done[7][-1][2] == reference_mth(leaves)
    assert merkle.peak_ranges(13) == [(3, 0), (2, 2), (0, 12)]


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 300),
    data=st.data(),
)
def test_mutated_proofs_fail(n: int, data: st.DataObject) -> None:
    leaves = tree(n)
    root = reference_mth(leaves)
    i = data.draw(st.integers(0, n - 1))
    proof = merkle.inclusion_path(i, n, subtree_of(leaves))
    m = data.draw(st.integers(1, n))
    cproof = merkle.consistency_path(m, n, subtree_of(leaves))
    root1 = reference_mth(leaves[:m])
    kind = data.draw(st.sampled_from(["flip", "drop", "extra", "root"]))
    for p, check in (
        (proof, lambda q, r: merkle.verify_inclusion(leaves[i], i, n, q, r)),
        (cproof, lambda q, r: merkle.verify_consistency(m, n, q, root1, r)),
    ):
        q, r = list(p), root
        if kind == "flip" and q:
            j = data.draw(st.integers(0, len(q) - 1))
            q[j] = bytes([q[j][0] ^ 1]) + q[j][1:]
        elif kind == "drop" and q:
            q.pop(data.draw(st.integers(0, len(q) - 1)))
        elif kind == "extra":
            q.append(leaves[0])
        else:
            r = root[:-1] + bytes([root[-1] ^ 0x80])
        if q == p and r == root:
            continue  # an empty proof has nothing to flip or drop
        with pytest.raises(ProofError):
            check(q, r)


HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=5),
    st.binary(max_size=40),
    st.lists(st.one_of(st.binary(min_size=31, max_size=33), st.text(max_size=2), st.none())),
)


@settings(max_examples=400, deadline=None)
@given(a=HOSTILE, b=HOSTILE, c=HOSTILE, d=HOSTILE, e=HOSTILE)
def test_hostile_input_only_raises_proof_error(
    a: object, b: object, c: object, d: object, e: object
) -> None:
    for call in (merkle.verify_inclusion, merkle.verify_consistency):
        with contextlib.suppress(ProofError):
            call(a, b, c, d, e)  # type: ignore[operator]
