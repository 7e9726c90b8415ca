"""A log's derived files held to its records, as ``seid verify`` streams them.

``head``, ``index`` and ``tree/<level>`` only say again what the records say (see
:mod:`seid.ledger.log`). A writer checks the few of their bytes it relies on before an
append; ``seid verify`` checks all of them: every index offset and every stored subtree
hash against the ones the records give, and the head against the log's size and
length. A disagreement is no tampering with evidence (the records are the truth), but
a writer or a proof built on it would go wrong: it is reported, and ``seid verify
--repair`` rebuilds the files from the records.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from seid.ledger import merkle, records

_OFFSET = struct.Struct(">Q")
_H = merkle.HASH_SIZE
_SHOWN = 3  # disagreements named per log; the rest are counted


class DerivedFiles:
    """The derived files of the log in ``path``, compared entry by entry."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.found: list[str] = []
        self._count = 0
        self._fds: dict[str, int | None] = {}

    def _fd(self, name: str) -> int | None:
        if name not in self._fds:
            try:
                self._fds[name] = os.open(self.path / name, os.O_RDONLY)
            except OSError:
                self._fds[name] = None
                self._note(f"{name} is missing")
        return self._fds[name]

    def _note(self, what: str) -> None:
        self._count += 1
        if len(self.found) < _SHOWN:
            self.found.append(what)

    def entry(self, i: int, offset: int, completed: list[tuple[int, int, bytes]]) -> None:
        """Entry ``i`` starts at byte ``offset`` and completes these subtrees."""
        index = self._fd("index")
        if index is not None and os.pread(index, 8, 8 * i) != _OFFSET.pack(offset):
            self._note(f"index: entry {i}'s offset is not {offset}")
        for level, position, node in completed:
            tree = self._fd(f"tree/{level}")
            if tree is not None and os.pread(tree, _H, _H * position) != node:
                self._note(f"tree/{level}: subtree {position} is not the hash of its leaves")

    def finish(self, size: int, length: int) -> list[str]:
        """What disagrees, once the records (``size`` of them, ``length`` bytes) are read."""
        head_fd = self._fd("head")
        raw = os.pread(head_fd, 2 * records.HEAD_SLOT, 0) if head_fd is not None else b""
        if head_fd is not None and (raw or size):
            head = records.unpack_head(raw)
            if head is None:
                self._note("head is unreadable")
            elif (head.size, head.length) != (size, length):
                self._note(
                    f"head says {head.size} entries in {head.length} bytes, the log has "
                    f"{size} in {length}"
                )
        for fd in self._fds.values():
            if fd is not None:
                os.close(fd)
        self._fds.clear()
        more = self._count - len(self.found)
        return [*self.found, *([f"and {more} more"] if more > 0 else [])]
