"""Publishing logs to git refs ``refs/seid/ledger/<log-id>``, and reading them back.

Only plumbing is used (hash-object, mktree, commit-tree, update-ref), so HEAD, the index
and the working tree are never touched. Each publish commits a tree holding the ``log``
file (entries and checkpoints) and the latest ``checkpoint`` as text, with the previous
ref commit as parent; ``update-ref`` checks the old value, so two publishers cannot
silently overwrite each other. A ref holding a log that is not a prefix of the local one
(a fork, or a longer log) is reported and never overwritten.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from seid import git
from seid.errors import VerificationError
from seid.ledger import records
from seid.ledger.log import Ledger, LedgerError
from seid.ledger.paths import log_dir
from seid.ledger.refs import copy_ref_log, open_ref_log, ref_logs, ref_name

__all__ = [
    "Comparison",
    "Published",
    "compare",
    "open_published",
    "open_ref_log",
    "publish",
    "ref_logs",
    "ref_name",
]

_COPY = 1 << 20
_FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "seid",
    "GIT_AUTHOR_EMAIL": "seid@localhost",
    "GIT_COMMITTER_NAME": "seid",
    "GIT_COMMITTER_EMAIL": "seid@localhost",
}


@dataclass(frozen=True)
class Published:
    ref: str
    commit: str
    size: int
    changed: bool


@dataclass(frozen=True)
class Comparison:
    """How a published log relates to the local one."""

    ref_size: int
    fork_at: int | None  # first index whose entries differ, if any
    reason: str = ""


@contextlib.contextmanager
def open_published(repo: Path, log_id: str) -> Iterator[Ledger]:
    """A published log as a read-only :class:`Ledger` (copied to a temporary directory,
    where opening it builds its index and subtree hashes)."""
    with tempfile.TemporaryDirectory(prefix="seid-ledger-") as tmp:
        (log_dir(Path(tmp), log_id) / "tree").mkdir(parents=True)
        if not copy_ref_log(repo, log_id, log_dir(Path(tmp), log_id) / "log"):
            raise LedgerError(f"no log {log_id} here (neither .sei/ledger/ nor {ref_name(log_id)})")
        quiet = logging.getLogger("seid.ledger.log")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # building a copy is not a crash to report
        try:
            ledger = Ledger.open(Path(tmp), log_id, write=True)
        finally:
            quiet.setLevel(level)
        with ledger:
            yield ledger


def compare(local: BinaryIO, published: BinaryIO) -> Comparison:
    """Compare two log streams entry by entry: where (if anywhere) they fork."""
    mine = records.iterate_pairs(local)
    size = 0
    try:
        for entry, _ in records.iterate_pairs(published):
            ours = next(mine, None)
            if ours is not None and ours[0] != entry:
                return Comparison(size, size, f"entry {size} differs from the local log")
            size += 1
    except records.RecordError as err:
        return Comparison(size, size, f"published log is corrupt: {err}")
    return Comparison(size, None)


def publish(repo: Path, log_id: str) -> Published:
    """Write the local log to ``refs/seid/ledger/<log_id>``; idempotent."""
    ref = ref_name(log_id)
    with Ledger.open(repo, log_id) as ledger:
        size, length = ledger.size, ledger.head.length
        old = git.run(repo, "for-each-ref", "--format=%(objectname)", ref) or None
        if old is not None:
            _refuse_unless_prefix(repo, ledger, log_id)
        blob = _hash_prefix(repo, ledger.path / "log", length)
        note = git.run(repo, "hash-object", "-w", "--stdin", stdin=ledger.latest_checkpoint())
    tree = git.run(
        repo, "mktree", stdin=f"100644 blob {note}\tcheckpoint\n100644 blob {blob}\tlog\n".encode()
    )
    if old is not None and git.run(repo, "rev-parse", f"{old}^{{tree}}") == tree:
        return Published(ref, old, size, changed=False)
    parent = ["-p", old] if old else []
    commit = git.run(
        repo,
        "commit-tree",
        tree,
        *parent,
        "-m",
        f"seid ledger {log_id}: {size} entries",
        env=identity_env(repo),
    )
    git.run(repo, "update-ref", "-m", "seid ledger publish", ref, commit, old or "0" * 40)
    return Published(ref, commit, size, changed=True)


def _refuse_unless_prefix(repo: Path, ledger: Ledger, log_id: str) -> None:
    with open_ref_log(repo, log_id) as published, (ledger.path / "log").open("rb") as local:
        result = compare(local, published)
    if result.fork_at is not None:
        raise VerificationError(
            f"{ref_name(log_id)} forks from the local log at entry {result.fork_at} "
            f"({result.reason}); not overwriting it"
        )
    if result.ref_size > ledger.size:
        raise LedgerError(
            f"{ref_name(log_id)} has {result.ref_size} entries, the local log only "
            f"{ledger.size}; not rolling it back"
        )


def _hash_prefix(repo: Path, path: Path, length: int) -> str:
    """``git hash-object -w`` of the first ``length`` bytes (a writer may be appending)."""
    proc = git.start(
        repo, "hash-object", "-w", "--stdin", stdin=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdin is not None
    try:
        with path.open("rb") as source:
            remaining = length
            while remaining:
                chunk = source.read(min(_COPY, remaining))
                if not chunk:
                    raise LedgerError(f"{path}: shorter than its head")
                proc.stdin.write(chunk)
                remaining -= len(chunk)
        proc.stdin.close()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    if proc.wait() != 0:
        raise LedgerError(f"git hash-object failed: {err.decode(errors='replace').strip()}")
    return out.decode().strip()


def identity_env(repo: Path) -> dict[str, str] | None:
    """Commit as the user when git knows them, else as ``seid`` (never fail for that)."""
    try:
        git.run(repo, "var", "GIT_COMMITTER_IDENT")
        git.run(repo, "var", "GIT_AUTHOR_IDENT")
    except git.GitError:
        return {**os.environ, **_FALLBACK_IDENTITY}
    return None


def restore(repo: Path, log_id: str) -> tuple[int, int]:
    """Bring a local log cut back behind its published ref up to the ref again.

    Only when the local log is a prefix of the published one (same entries, fewer):
    a fork is never papered over. Returns the sizes before and after.
    """
    if log_id not in ref_logs(repo):
        raise LedgerError(f"no published log {ref_name(log_id)} to restore {log_id} from")
    with Ledger.open(repo, log_id, write=True) as ledger:
        before = ledger.size
        with (ledger.path / "log").open("rb") as ours, open_ref_log(repo, log_id) as theirs:
            result = compare(ours, theirs)
        if result.fork_at is not None:
            raise LedgerError(
                f"{ref_name(log_id)} and the local log differ at entry {result.fork_at} "
                f"({result.reason}); not restoring over another history"
            )
        if result.ref_size <= before:
            return before, before
        with open_ref_log(repo, log_id) as theirs:
            after = ledger.restore_from(theirs)
    return before, after
