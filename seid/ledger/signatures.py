"""Entry signature checks, in this process or in worker processes.

Checking one entry's DSSE signature is most of ``seid verify``'s work (one Ed25519
verification each), so it runs in chunks that :class:`Workers` spread over processes
forked once per verify, however many logs it reads. The tree and the checkpoint chain
stay in the main process (:mod:`seid.ledger.verify`).
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.pool import AsyncResult
from typing import Any, cast

from securesystemslib.signer import Key  # type: ignore[attr-defined]

from seid import evidence
from seid.errors import VerificationError
from seid.ledger import checkpoint

CHUNK = 512
Chunk = list[tuple[int, bytes, bytes]]
# (index, problems, subjects, (size, root, previous) its checkpoint states, the
# (previous_size, previous_root) its predicate records, if it records them)
Result = tuple[int, list[str], Any, tuple[int, bytes, bytes | None] | None, tuple[Any, Any] | None]


def check_chunk(log_id: str, key: Key, chunk: Chunk) -> list[Result]:
    """Per entry of a chunk: its problems, its statement's subjects and the ``(size, root,
    previous)`` its checkpoint states (compared with the tree and chain by the caller)."""
    out: list[Result] = []
    trusted = {log_id: key}
    for i, entry, note in chunk:
        reasons, subjects, claimed, extends = [], None, None, None
        try:
            statement = evidence.verify(entry, trusted).statement
            subjects = statement.get("subject")
            extends = _extends(statement)
        except VerificationError as err:
            reasons.append(f"entry signature: {err}")
        try:
            stated = checkpoint.read(note, log_id)
            claimed = (stated.size, stated.root, stated.previous)
        except VerificationError as err:
            reasons.append(str(err))  # it names the checkpoint
        out.append((i, reasons, subjects, claimed, extends))
    return out


def _extends(statement: dict[str, Any]) -> tuple[Any, Any] | None:
    """The head an entry says it extends: ``predicate.ledger.previous_size/_root``."""
    predicate = statement.get("predicate")
    ledger = predicate.get("ledger") if isinstance(predicate, dict) else None
    if not isinstance(ledger, dict) or "previous_size" not in ledger:
        return None
    return ledger.get("previous_size"), ledger.get("previous_root")


_KEYS: dict[str, Key] = {}  # a worker's keys, by log id


def _worker_check(log_id: str, key: dict[str, Any], chunk: Chunk) -> list[Result]:
    if log_id not in _KEYS:
        _KEYS[log_id] = Key.from_dict(key["keyid"], dict(key))
    return check_chunk(log_id, _KEYS[log_id], chunk)


class Workers:
    """Processes that check entry signatures for every log one verify reads (forked on
    first use; a pool per log forked each worker again for each of 100 logs)."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._pool: Any = None

    def submit(self, log_id: str, key: Key, chunk: Chunk) -> AsyncResult[list[Result]]:
        if self._pool is None:
            self._pool = multiprocessing.get_context("fork").Pool(self.jobs)
        portable = key.to_dict() | {"keyid": key.keyid}
        return cast(
            AsyncResult[list[Result]],
            self._pool.apply_async(_worker_check, (log_id, portable, chunk)),
        )

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *_: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None
