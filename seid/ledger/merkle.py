"""RFC 9162 Merkle tree hashing and proofs (sections 2.1.1 to 2.1.4).

The verifiers are the exact algorithms of RFC 9162 2.1.3.2 and 2.1.4.2: an auditor's
trust in the ledger rests on them, so they take untrusted input and turn every
malformed value into :class:`ProofError`, never another exception.

The generators (:func:`inclusion_path`, :func:`consistency_path`) follow the RFC's
recursive definitions over a ``subtree(start, end)`` callable, so the log can answer
them from stored subtree hashes in O(log n) reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
_LEAF = b"\x00"
_NODE = b"\x01"

Subtree = Callable[[int, int], bytes]
"""Merkle tree hash of the leaves ``[start, end)``."""


class ProofError(Exception):
    """A proof that does not verify, or input that cannot be a proof."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one log entry."""
    return hashlib.sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(_NODE + left + right).digest()


def empty_root() -> bytes:
    """The root of the empty tree: SHA-256 of nothing."""
    return hashlib.sha256(b"").digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


# --- verification ----------------------------------------------------------------------


def _size(value: object, name: str) -> int:
    if type(value) is not int or value < 0:
        raise ProofError(f"{name} must be a non-negative integer")
    return value


def _bytes(value: object, name: str, exact: bool = True) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ProofError(f"{name} must be bytes")
    data = bytes(value)
    if exact and len(data) != HASH_SIZE:
        raise ProofError(f"{name} must be {HASH_SIZE} bytes, not {len(data)}")
    return data


def _path(proof: object) -> list[bytes]:
    if isinstance(proof, str | bytes | bytearray | memoryview) or not isinstance(proof, Sequence):
        raise ProofError("proof must be a sequence of hashes")
    return [_bytes(item, f"proof[{i}]") for i, item in enumerate(proof)]


def _match(computed: bytes, expected: bytes, what: str) -> None:
    if computed != expected:
        raise ProofError(f"{what} does not match")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root``.

    RFC 9162 section 2.1.3.2. Raises :class:`ProofError` on any failure.
    """
    fn, sn = _size(index, "index"), _size(size, "size")
    r, expected, path = _bytes(leaf_hash, "leaf hash"), _bytes(root, "root", False), _path(proof)
    if fn >= sn:
        raise ProofError(f"index {fn} is not below tree size {sn}")
    sn -= 1
    for p in path:
        if sn == 0:
            raise ProofError("proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("proof is too short")
    _match(r, expected, "root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size2`` with ``root2`` extends the one of ``size1``/``root1``.

    RFC 9162 section 2.1.4.2, which is defined for 0 < size1 <= size2: a proof from
    the empty tree proves nothing and is refused. Raises :class:`ProofError`.
    """
    first, second = _size(size1, "size1"), _size(size2, "size2")
    path = _path(proof)
    first_hash, second_hash = _bytes(root1, "root1", False), _bytes(root2, "root2", False)
    if first == 0:
        raise ProofError("consistency with the empty tree cannot be proven")
    if first > second:
        raise ProofError(f"size1 {first} is greater than size2 {second}")
    if first == second:
        if path:
            raise ProofError("proof must be empty for equal sizes")
        _match(first_hash, second_hash, "root")
        return
    if not path:
        raise ProofError("proof is empty")
    if first & (first - 1) == 0:
        path = [first_hash, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("proof is too short")
    _match(fr, first_hash, "root1")
    _match(sr, second_hash, "root2")


# --- generation ------------------------------------------------------------------------


def inclusion_path(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 2.1.3.1, leaf-side first."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} out of range for size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_path(size1: int, size2: int, subtree: Subtree) -> list[bytes]:
    """PROOF(size1, D[0:size2]) of RFC 9162 2.1.4.1, for 0 < size1 <= size2."""
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to {size2}")
    path: list[bytes] = []
    start, end, m, complete = 0, size2, size1, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        path.append(subtree(start, end))
    path.reverse()
    return path


class CompactRange:
    """The perfect subtrees covering leaves ``[0, size)``: a tree root in O(log n) memory.

    Lets ``seid verify`` recompute the root while streaming entries, and the log keep
    its head without rereading leaves.
    """

    def __init__(self) -> None:
        self.size = 0
        self._peaks: list[bytes] = []

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; returns the perfect subtrees it completed as
        ``(level, position, hash)``, leaf level first."""
        completed = [(0, self.size, leaf)]
        node, level, index = leaf, 0, self.size
        while index & 1:
            node = node_hash(self._peaks.pop(), node)
            level, index = level + 1, index >> 1
            completed.append((level, index, node))
        self._peaks.append(node)
        self.size += 1
        return completed

    def root(self) -> bytes:
        """The RFC 9162 Merkle tree hash of the leaves so far."""
        if not self._peaks:
            return empty_root()
        node = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            node = node_hash(peak, node)
        return node

    @property
    def peaks(self) -> tuple[bytes, ...]:
        """The perfect subtrees' hashes, largest first: what :meth:`from_peaks` takes."""
        return tuple(self._peaks)

    @classmethod
    def from_peaks(cls, size: int, peaks: Sequence[bytes]) -> CompactRange:
        """Rebuild from stored peaks (largest first), one per set bit of ``size``."""
        if len(peaks) != size.bit_count():
            raise ValueError("peak count does not match size")
        compact = cls()
        compact.size, compact._peaks = size, list(peaks)
        return compact


def peak_ranges(size: int) -> list[tuple[int, int]]:
    """``(level, position)`` of the perfect subtrees covering ``[0, size)``, largest first."""
    out, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, start >> level))
            start += 1 << level
    return out


def root_of(leaves: Iterable[bytes]) -> bytes:
    """Merkle tree hash of leaf hashes, streaming."""
    compact = CompactRange()
    for leaf in leaves:
        compact.append(leaf)
    return compact.root()
