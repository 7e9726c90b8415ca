"""The checkpoint chain: every checkpoint checked at one Ed25519 verification per run.

Each checkpoint after the first names the exact bytes of the one before it (its
``previous`` line, see :mod:`seid.ledger.checkpoint`), so a checkpoint whose successor
links to it is vouched for by that successor: only the newest of each unbroken run (and
every :data:`ANCHOR`-th, which bounds memory) needs its signature verified. When a link
is missing or does not match, the checkpoint before it is verified on its own; when a
verification fails, the checkpoints it vouched for are verified one by one back to the
first good one, so the first bad entry is still named exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from securesystemslib.signer import Key  # type: ignore[attr-defined]

from seid.errors import VerificationError
from seid.ledger import checkpoint

ANCHOR = 256


@dataclass
class CheckpointChain:
    """Checkpoints awaiting a verified signature, fed in log order; problems go to
    ``report(entry, reason)``."""

    log_id: str
    key: Key
    report: Callable[[int, str], None]
    run: list[tuple[int, bytes, bool]] = field(default_factory=list)  # (entry, note, verified)

    def add(self, i: int, note: bytes, previous: bytes | None) -> None:
        """Chain checkpoint ``i``; settle the run before it when it does not link to it."""
        if self.run and previous is not None and previous == checkpoint.link(self.run[-1][1]):
            self.run.append((i, note, False))
        else:
            base_ok = self.settle()  # None: no base (unreadable or failed, already reported)
            if previous is not None and i == 0:
                self.report(i, "first checkpoint links to an earlier one")
            elif previous is not None and base_ok:
                self.report(i, "checkpoint does not link to the checkpoint before it")
            self.run = [(i, note, False)]
        if len(self.run) > ANCHOR:
            self.settle()

    def drop(self) -> None:
        """A checkpoint that could not be read vouches for nothing: settle before it."""
        self.settle()

    def settle(self) -> bool | None:
        """Verify the run's newest checkpoint, and on failure the ones it vouched for.

        Keeps the newest as the verified base of the next run; returns whether it
        verified, None when there was nothing to settle.
        """
        if not self.run:
            return None
        newest_ok = None
        for i, note, verified in reversed(self.run):
            ok = verified or self._verifies(i, note)
            newest_ok = ok if newest_ok is None else newest_ok
            if ok:
                break
        last = self.run[-1]
        self.run = [(last[0], last[1], True)] if newest_ok else []
        return newest_ok

    def _verifies(self, i: int, note: bytes) -> bool:
        try:
            checkpoint.verify(note, self.log_id, self.key)
        except VerificationError as err:
            self.report(i, str(err))  # it names the checkpoint
            return False
        return True
