"""Streaming verification of a log: what ``seid verify`` runs.

One pass over the records, in O(log n) memory: every entry's DSSE signature against the
log's trusted key, the Merkle tree recomputed leaf by leaf, and every checkpoint checked
for size and root against that tree and for its signature. Matching each checkpoint's
root with the recomputed prefix root proves all checkpoints mutually consistent (they
are all roots of prefixes of one tree).

Checkpoint signatures are checked along their chain (:mod:`seid.ledger.chain`), one
Ed25519 check per run of linked checkpoints. Entry signatures and checkpoint bodies may
be checked in worker processes (:mod:`seid.ledger.signatures`); the tree and the chain
stay in the main one.
"""

from __future__ import annotations

import base64
import collections
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from securesystemslib.signer import Key  # type: ignore[attr-defined]

from seid import evidence, keys
from seid.errors import SeidError, VerificationError
from seid.ledger import merkle, publish, records
from seid.ledger.chain import CheckpointChain
from seid.ledger.derived import DerivedFiles
from seid.ledger.log import LedgerError, acknowledged
from seid.ledger.paths import list_logs, log_dir
from seid.ledger.signatures import CHUNK, Chunk, Result, Workers, check_chunk

Subjects = dict[str, tuple[int, str]] | None  # subject name -> newest (entry, sha256)


@dataclass(frozen=True)
class Problem:
    """Something wrong, located at the first entry it affects."""

    entry: int
    reason: str


@dataclass
class LogReport:
    """The outcome of verifying one log."""

    log_id: str
    source: str
    size: int = 0
    root: bytes = field(default_factory=merkle.empty_root)
    problems: list[Problem] = field(default_factory=list)
    trusted: bool = True  # False: the log's key is not in .sei/trust/, nothing was checked
    length: int = 0  # bytes of whole records read
    derived: list[str] = field(default_factory=list)  # head, index, tree/ disagreements
    notices: list[str] = field(default_factory=list)
    witnessed: int | None = None  # entries a witness quorum cosigned, under a policy
    roots: dict[int, bytes] = field(default_factory=dict)  # tree roots at asked-for sizes

    @property
    def ok(self) -> bool:
        return not self.problems and not self.derived

    @property
    def first(self) -> Problem | None:
        return min(self.problems, key=lambda p: p.entry) if self.problems else None

    @property
    def bad_entries(self) -> int:
        return len({p.entry for p in self.problems})

    def to_json(self) -> dict[str, Any]:
        first = self.first
        return {
            "log_id": self.log_id,
            "source": self.source,
            "size": self.size,
            "root": base64.b64encode(self.root).decode(),
            "ok": self.ok,
            "bad_entries": self.bad_entries,
            "first_bad": None if first is None else {"entry": first.entry, "reason": first.reason},
            "problems": [{"entry": p.entry, "reason": p.reason} for p in self.problems[:100]],
            "notices": self.notices,
            "trusted": self.trusted,
            "witnessed": self.witnessed,
            "derived": self.derived,
        }


def _read(
    stream: BinaryIO, report: LogReport, acked: int
) -> Iterator[tuple[int, int, bytes, bytes]]:
    """``(index, offset, entry, note)`` until EOF or the first record that cannot be framed.

    A torn record past the ``acked`` size the head records is noted, not a problem.
    """
    offset, i = 0, 0
    while True:
        try:
            data = records.read_one(stream, offset)
        except records.RecordError as err:
            if 0 < acked <= i:  # past what the head acknowledges: an interrupted append
                report.notices.append(
                    f"{err.reason} after entry {i - 1}: an interrupted append, "
                    "cut at the next write"
                )
            else:
                report.problems.append(Problem(i, f"{err.reason} (byte {offset} of the log)"))
            return
        if data is None:
            return
        try:
            entry, note = records.unpack_pair(data, offset)
        except records.RecordError as err:
            report.problems.append(Problem(i, err.reason))
            entry, note = data, b""
        yield i, offset, entry, note
        offset += records.HEADER.size + len(data)
        report.length = offset
        i += 1


def verify_stream(
    stream: BinaryIO,
    log_id: str,
    key: Key | None,
    source: str,
    *,
    workers: Workers | None = None,
    subjects_root: Path | None = None,
    expected_size: int = 0,
    derived: Path | None = None,
    roots_at: Collection[int] = (),
) -> LogReport:
    """Verify the log records read from ``stream`` (the bytes of a ``log`` file); with
    ``derived`` (a local log's directory) its head, index and tree/ are checked too.
    The tree's roots at the sizes ``roots_at`` names are kept in ``report.roots`` (the
    sizes witnesses cosigned), so no caller reads the log a second time."""
    report = LogReport(log_id, source)
    if key is None:
        report.problems.append(Problem(0, f"the log's key {log_id} is not trusted (.sei/trust/)"))
        report.trusted = False
        return report
    compact = merkle.CompactRange()
    chain = CheckpointChain(log_id, key, lambda i, why: report.problems.append(Problem(i, why)))
    state = _State(report, chain, {} if subjects_root is not None else None)
    pending: collections.deque[AsyncResult[list[Result]]] = collections.deque()
    chunk: Chunk = []
    files = DerivedFiles(derived) if derived is not None else None
    root: bytes | None = None  # the tree's root before this entry (None: empty)
    for i, offset, entry, note in _read(stream, report, expected_size):
        before = root
        completed = compact.append(merkle.leaf_hash(entry))
        if files is not None:
            files.entry(i, offset, completed)
        root = compact.root()
        if compact.size in roots_at:
            report.roots[compact.size] = root
        state.inflight[i] = (root, note, before)
        chunk.append((i, entry, note))
        if len(chunk) >= CHUNK:
            _dispatch(workers, pending, log_id, key, chunk, state)
            chunk = []
    _dispatch(workers, pending, log_id, key, chunk, state)
    while pending:
        state.collect(pending.popleft().get())
    state.chain.settle()
    report.size, report.root = compact.size, compact.root()
    if files is not None:
        disagree = files.finish(report.size, report.length)
        # With records in question, what was derived from them is beside the point.
        report.derived = [] if report.problems else disagree
    if report.size < expected_size:
        report.problems.append(
            Problem(report.size, f"missing: the log's head records {expected_size} entries")
        )
    if subjects_root is not None and state.subjects is not None:
        _check_subjects(subjects_root, state.subjects, report)
    report.problems.sort(key=lambda p: p.entry)
    return report


def _dispatch(
    workers: Workers | None,
    pending: collections.deque[AsyncResult[list[Result]]],
    log_id: str,
    key: Key,
    chunk: Chunk,
    state: _State,
) -> None:
    if not chunk:
        return
    if workers is None or workers.jobs <= 1:
        state.collect(check_chunk(log_id, key, chunk))
        return
    pending.append(workers.submit(log_id, key, chunk))
    while len(pending) > 2 * workers.jobs:  # back-pressure: memory stays bounded
        state.collect(pending.popleft().get())


@dataclass
class _State:
    """Findings so far, the recomputed roots and notes awaiting their results, newest
    subjects."""

    report: LogReport
    chain: CheckpointChain
    subjects: Subjects
    inflight: dict[int, tuple[bytes, bytes, bytes | None]] = field(default_factory=dict)

    def collect(self, results: list[Result]) -> None:
        for i, reasons, subject_list, claimed, extends in results:
            problems = [Problem(i, reason) for reason in reasons]
            root, note, before = self.inflight.pop(i)
            if extends is not None and extends != (i, before.hex() if before else None):
                problems.append(
                    Problem(
                        i,
                        f"records that it extends the log at size {extends[0]}, but it "
                        f"follows {i} entries (predicate.ledger.previous_size/previous_root)",
                    )
                )
            if claimed is None:
                self.chain.drop()
            elif claimed[0] != i + 1:
                problems.append(
                    Problem(i, f"checkpoint is for tree size {claimed[0]}, not {i + 1}")
                )
            elif claimed[1] != root:
                problems.append(Problem(i, "checkpoint root does not match the recomputed tree"))
            self.report.problems.extend(problems)
            if claimed is not None:
                self.chain.add(i, note, claimed[2])
            if self.subjects is not None:
                self._remember(i, subject_list)

    def _remember(self, i: int, subject_list: Any) -> None:
        assert self.subjects is not None
        for subject in subject_list or ():
            digest = subject.get("digest", {}).get("sha256")
            if isinstance(subject.get("name"), str) and isinstance(digest, str):
                self.subjects[subject["name"]] = (i, digest)


def _check_subjects(root: Path, subjects: Mapping[str, tuple[int, str]], report: LogReport) -> None:
    """Re-hash subject files that still exist against the newest entry naming them.

    A ``seid://`` subject is an artifact in a verified store (a model MLflow logged):
    its container is decoded and the bytes hashed, wherever the store is mounted.
    """
    base = root.resolve()
    for name, (i, digest) in sorted(subjects.items()):
        if name.startswith("seid:"):
            problem = _stored_problem(name, digest)
            if problem is not None:
                report.problems.append(Problem(i, problem))
            continue
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts:
            continue
        path = base / relative
        if not path.is_file() or base not in path.resolve().parents:
            continue
        if evidence.file_sha256(path) != digest:
            report.problems.append(Problem(i, f"subject {name} no longer matches its digest"))


def _stored_problem(name: str, digest: str) -> str | None:
    """What is wrong with a stored artifact still present, or None."""
    from seid.container import store  # codecs load only when a bundle names a store

    try:
        path = store.path_of(name)
    except ValueError:
        return f"subject {name} is not a local seid:// artifact"
    if not path.is_file():
        return None
    try:
        header = store.decode_recorded(path, name, None)
    except (VerificationError, OSError) as exc:
        return f"subject {exc}"
    if header.hexdigest != digest:
        return f"subject {name} no longer matches its digest"
    return None


def verify_repo(
    repo: Path,
    log_id: str | None = None,
    *,
    jobs: int = 1,
    subjects: bool = False,
    roots_at: Mapping[str, Collection[int]] | None = None,
) -> list[LogReport]:
    """Verify every log of ``repo`` (local copies and published refs), or just ``log_id``;
    a published log keeps its roots at the sizes ``roots_at`` names for it.

    A log both local and published is verified in both forms, and the published one
    must be a prefix of the local one or extend it; a fork is a problem.
    """
    trusted = keys.trusted_keys(repo)
    local = list_logs(repo)
    try:
        published = publish.ref_logs(repo)
    except (SeidError, OSError):
        published = {}  # not a git repository (or no git): only local logs
    if log_id is not None and log_id not in local and log_id not in published:
        ref = publish.ref_name(log_id)
        raise LedgerError(f"no log {log_id} here (neither .sei/ledger/ nor {ref})")
    reports = []
    with Workers(jobs) as workers:
        options: dict[str, Any] = {"workers": workers, "subjects_root": repo if subjects else None}
        for lid in [log_id] if log_id is not None else sorted(set(local) | set(published)):
            key = trusted.get(lid)
            mine = _verify_local(repo, lid, key, options) if lid in local else None
            if mine is not None:
                reports.append(mine)
            if lid in published:
                sizes = (roots_at or {}).get(lid, ())
                more = options | {"roots_at": sizes}
                reports.append(_verify_published(repo, lid, key, more, mine))
    return reports


def _verify_local(repo: Path, log_id: str, key: Key | None, options: dict[str, Any]) -> LogReport:
    path = log_dir(repo, log_id) / "log"
    expected = acknowledged(repo, log_id).size
    try:
        with path.open("rb", buffering=1 << 20) as stream:
            return verify_stream(
                stream, log_id, key, str(path), expected_size=expected, derived=path.parent,
                **options,
            )  # fmt: skip
    except OSError as exc:
        raise LedgerError(f"cannot read {path}: {exc.strerror}") from None


def _verify_published(
    repo: Path, log_id: str, key: Key | None, options: dict[str, Any], mine: LogReport | None
) -> LogReport:
    ref = publish.ref_name(log_id)
    with publish.open_ref_log(repo, log_id) as stream:
        report = verify_stream(stream, log_id, key, ref, **options)
    if mine is None:
        return report
    with Path(mine.source).open("rb") as ours, publish.open_ref_log(repo, log_id) as theirs:
        result = publish.compare(ours, theirs)
    if result.fork_at is not None:
        report.problems.insert(0, Problem(result.fork_at, f"fork: {result.reason}"))
    elif result.ref_size > mine.size:
        mine.problems.append(
            Problem(
                mine.size,
                f"the local log has {mine.size} entries but its published {ref} has "
                f"{result.ref_size}: the local log was cut back (restore it with "
                f"`seid ledger restore --log {log_id[:16]}`)",
            )
        )
    return report
