"""The newest trusted evidence: what status, run and the daemon compare the inputs with.

A baseline decides whether a change is drift and whether a run is due, so only evidence
an auditor would accept may be one. An entry counts when:

- its log's key (the log id) is in ``.sei/trust/``, and the entry's envelope verifies
  under that key;
- the log's newest checkpoint verifies under the same key and includes the entry (an
  RFC 9162 inclusion proof against the signed root), so an entry dropped into a log
  without its log's signature is never one;
- the commit its bundle records is HEAD or an ancestor of HEAD (a bundle of another
  branch says nothing of this one).

Logs are read where this host has them: ``.sei/ledger/`` and, for logs it only
fetched, the published refs ``refs/seid/ledger/*`` (a second host sees the first
host's evidence). Of the entries that count, the one whose run finished last wins.
Logs whose key is not trusted are returned by name, so ``seid status`` can say so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from securesystemslib.signer import Key  # type: ignore[attr-defined]  # re-exported

from seid import evidence, git, keys
from seid.errors import SeidError, VerificationError
from seid.ledger import checkpoint, merkle
from seid.ledger.log import Ledger
from seid.ledger.newest import finished_at
from seid.ledger.paths import list_logs

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Found:
    """The newest trusted statement (None: none yet) and the logs that could not count."""

    statement: dict[str, Any] | None
    untrusted: tuple[str, ...] = ()
    log_id: str | None = None
    index: int | None = None


def newest_trusted(root: Path, predicate_type: str, head: str | None) -> Found:
    """The newest statement of ``predicate_type`` that counts (see the module doc)."""
    trusted = keys.trusted_keys(root)
    local = set(list_logs(root))
    published = _published(root) - local
    untrusted = tuple(sorted((local | published) - set(trusted)))
    best: tuple[tuple[datetime, int], str, int, dict[str, Any]] | None = None
    for log_id in sorted((local | published) & set(trusted)):
        with _open(root, log_id, log_id in local) as ledger:
            found = _newest_in(ledger, log_id, trusted[log_id], predicate_type, root, head)
        if found is not None and (best is None or found[0] > best[0]):
            best = (found[0], log_id, found[1], found[2])
    if best is None:
        return Found(None, untrusted)
    return Found(best[3], untrusted, best[1], best[2])


def _published(root: Path) -> set[str]:
    from seid.ledger.refs import ref_logs

    try:
        return set(ref_logs(root))
    except (SeidError, OSError):
        return set()  # not a git repository: local logs only


@contextlib.contextmanager
def _open(root: Path, log_id: str, local: bool) -> Iterator[Ledger]:
    if local:
        with Ledger.open(root, log_id) as ledger:
            yield ledger
        return
    from seid.ledger.publish import open_published

    with open_published(root, log_id) as ledger:
        yield ledger


def _newest_in(
    ledger: Ledger, log_id: str, key: Key, predicate_type: str, root: Path, head: str | None
) -> tuple[tuple[datetime, int], int, dict[str, Any]] | None:
    """The log's newest counting statement: ``((finished, index), index, statement)``."""
    signed = _signed_head(ledger, log_id, key)
    if signed is None:
        return None
    size, signed_root = signed
    for i in range(size - 1, -1, -1):
        entry = ledger.entry(i)
        try:
            if evidence.decode(entry).get("predicateType") != predicate_type:
                continue
            statement = evidence.verify(entry, {log_id: key}).statement
            proof = ledger.inclusion_proof(i, size)
            merkle.verify_inclusion(merkle.leaf_hash(entry), i, size, proof, signed_root)
        except (VerificationError, merkle.ProofError):
            continue
        if _on_this_branch(root, statement, head):
            predicate = statement.get("predicate")
            finished = finished_at(predicate) if isinstance(predicate, Mapping) else None
            return (finished or _NEVER, i), i, statement
    return None


def _signed_head(ledger: Ledger, log_id: str, key: Key) -> tuple[int, bytes] | None:
    """The size and root of the newest checkpoint that verifies under the log's key."""
    if ledger.size == 0:
        return None
    try:
        signed = checkpoint.verify(ledger.latest_checkpoint(), log_id, key)
    except VerificationError:
        return None
    if not 0 < signed.size <= ledger.size:
        return None
    return signed.size, signed.root


def _on_this_branch(root: Path, statement: Mapping[str, Any], head: str | None) -> bool:
    """Whether the bundle's commit is HEAD or an ancestor of it (no commit recorded, or
    no HEAD yet: it describes a work tree, and counts)."""
    predicate = statement.get("predicate")
    recorded = predicate.get("git") if isinstance(predicate, Mapping) else None
    commit = recorded.get("commit") if isinstance(recorded, Mapping) else None
    if not isinstance(commit, str) or head is None:
        return True
    if commit == head:
        return True
    return git.succeeds(root, "merge-base", "--is-ancestor", commit, head)
