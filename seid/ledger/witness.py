"""Witnessing logs: cosign a checkpoint only if it extends every one cosigned before.

A witness keeps, per log, the newest checkpoint it cosigned (``.sei/witness/<witness-id>/
<log-id>``) and publishes its cosignatures to ``refs/seid/witness/<witness-id>``: per
log a file ``<log-id>`` (the log's checkpoint with the cosignature line) and
``<log-id>.log``, the very log blob it checked. That second file costs nothing (git
already holds the blob) and keeps the witnessed history reachable after a host
force-pushes another one, so an auditor can name the first entry where they part.
:mod:`seid.ledger.witness_ref` commits and pushes that ref.

A checkpoint that is smaller than, or not consistent with, the one cosigned before is
never cosigned; both signed notes are kept in a signed equivocation record.

Beside each note the witness keeps where it stopped reading (``<log-id>.range``: the
cosigned tree as its compact range and the byte length of its records), so the next pass
hashes only the entries appended since: the old peaks extended by the new leaves must
give the new signed root, which is the consistency check itself (the new tree then has
the cosigned one as its prefix by construction). Without a usable range (first cosign,
a witness re-cloned elsewhere, a cosign over HTTP) or when the tail does not hold, the
whole log is read and the RFC 9162 proof decides, as C2SP witnesses do.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from securesystemslib.signer import Key, Signer  # type: ignore[attr-defined]

from seid import evidence, git
from seid.errors import SeidError, VerificationError
from seid.fsutil import sei_dir, write_atomic
from seid.ledger import checkpoint, cosignature, merkle, records
from seid.ledger.paths import is_log_id
from seid.ledger.publish import compare, open_ref_log, ref_logs, ref_name
from seid.ledger.witness_ref import (
    REF_PREFIX,
    REMOTE_COPY,
    notes_at,
    publish_state,
    push,
    tip,
    witness_ref,
)

EQUIVOCATION_TYPE = "https://seid.dev/equivocation/v1"
_NOT_ITS_CHECKPOINT = "the log does not match its checkpoint"


@dataclass(frozen=True)
class Outcome:
    """What a witness did with one log: ``cosigned``, ``unchanged`` or ``refused``."""

    log_id: str
    action: str
    size: int
    reason: str = ""


def leaves(repo: Path, log_id: str) -> list[bytes]:
    """The leaf hashes of a published log (streamed; 32 bytes kept per entry)."""
    with open_ref_log(repo, log_id) as stream:
        return [merkle.leaf_hash(entry) for entry, _ in records.iterate_pairs(stream)]


@dataclass(frozen=True)
class Range:
    """Where a witness stopped reading a log: the cosigned tree's compact range and the
    byte length of the records that make it up."""

    size: int
    length: int
    peaks: tuple[bytes, ...]

    def root(self) -> bytes:
        return merkle.CompactRange.from_peaks(self.size, self.peaks).root()

    def to_bytes(self) -> bytes:
        peaks = [base64.b64encode(p).decode() for p in self.peaks]
        return json.dumps({"size": self.size, "length": self.length, "peaks": peaks}).encode()

    @classmethod
    def parse(cls, data: bytes) -> Range | None:
        """The range a state file holds; None for anything else (it is only a shortcut)."""
        try:
            doc = json.loads(data)
            peaks = tuple(base64.b64decode(p, validate=True) for p in doc["peaks"])
            found = cls(int(doc["size"]), int(doc["length"]), peaks)
            found.root()  # the peak count must match the size
        except (ValueError, TypeError, KeyError, binascii.Error):
            return None
        return found if found.length >= 0 and all(len(p) == 32 for p in peaks) else None


def extend(repo: Path, log_id: str, start: Range) -> Range:
    """``start`` extended by the published log's records past ``start.length`` (those
    before are skipped unread: the caller checks the result against a signed root)."""
    compact = merkle.CompactRange.from_peaks(start.size, start.peaks)
    length = start.length
    with open_ref_log(repo, log_id) as stream:
        skip = start.length
        while skip:
            got = len(stream.read(min(skip, 1 << 20)))
            if not got:
                raise records.RecordError(start.length - skip, "log shorter than witnessed")
            skip -= got
        for data in records.iterate(stream, start.length):
            compact.append(merkle.leaf_hash(records.unpack_pair(data, length)[0]))
            length += records.HEADER.size + len(data)
    return Range(compact.size, length, compact.peaks)


def consistent(old: checkpoint.Checkpoint, new: checkpoint.Checkpoint, proof: list[bytes]) -> str:
    """Why ``new`` may not be cosigned after ``old`` (RFC 9162 proof), or ``""``."""
    if new.size < old.size:
        return f"tree size {new.size} is smaller than the {old.size} cosigned before"
    if old.size == 0:
        return ""  # the empty tree is a prefix of every tree
    try:
        merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
    except merkle.ProofError as err:
        return f"not consistent with the tree of size {old.size} cosigned before ({err})"
    return ""


class Witness:
    """One witness key's view of one repository's published logs."""

    def __init__(self, repo: Path, signer: Signer) -> None:
        self.repo, self.signer = repo, signer
        self.witness_id: str = signer.public_key.keyid
        self.state = repo / ".sei" / "witness" / self.witness_id
        self._notes: dict[str, list[bytes]] | None = None

    def previous(self, log_id: str) -> checkpoint.Checkpoint | None:
        """The largest checkpoint this witness cosigned for ``log_id``: its state, or
        what its own ref or the remote's copy of it holds under this witness's valid
        cosignature when that is larger (a witness re-cloned elsewhere, or another clone
        of its key that cosigned since). A larger one found in a ref becomes the state,
        so the ref is never published back to a smaller tree."""
        path = self.state / log_id
        best = checkpoint.parse(path.read_bytes())[0] if path.is_file() else None
        adopted = None
        for note in self._ref_notes().get(log_id, []):
            try:
                stated = checkpoint.parse(note)[0]
                if best is not None and stated.size <= best.size:
                    continue
                cosignature.verify(note, self.witness_id, self.signer.public_key)
            except VerificationError:
                continue  # not this witness's statement: a forger's, or damaged
            best, adopted = stated, note
        if adopted is not None:
            write_atomic(sei_dir(self.repo, "witness", self.witness_id) / log_id, adopted)
            (self.state / f"{log_id}.range").unlink(missing_ok=True)
        return best

    def _ref_notes(self) -> dict[str, list[bytes]]:
        """Per log, the notes this witness's ref and the remote's copy of it hold (read
        once per pass: one ``ls-tree`` and one ``cat-file --batch`` per ref)."""
        if self._notes is None:
            found: dict[str, list[bytes]] = {}
            for ref in (witness_ref(self.witness_id), REMOTE_COPY + self.witness_id):
                for log_id, note in notes_at(self.repo, ref).items():
                    found.setdefault(log_id, []).append(note)
            self._notes = found
        return self._notes

    def cosign_all(self, trusted: dict[str, Key]) -> list[Outcome]:
        """Cosign every trusted published log that grew consistently, then publish every
        note the witness's state holds and its ref does not (those cosigned over HTTP
        too: :mod:`seid.ledger.witness_ref`).

        Logs are checked on as many threads as there are cores: most of a check is git
        inflating a log blob in its own process, and each log's state is its own files.
        """
        # an untrusted log, or our own, is nothing to vouch for
        logs = [i for i in sorted(ref_logs(self.repo)) if i in trusted and i != self.witness_id]
        with git.BlobReader(self.repo) as reader:
            notes = [reader.read(f"{ref_name(log_id)}:checkpoint") or b"" for log_id in logs]
        self._ref_notes()  # read before the threads share it
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            checked = pool.map(self.cosign_log, logs, [trusted[i] for i in logs], notes)
            outcomes = list(checked)
        publish_state(self.repo, self.witness_id, self.state)
        return outcomes

    def cosign_log(self, log_id: str, key: Key, note: bytes) -> Outcome:
        """Check the published log (its checkpoint ``note``) against what was cosigned
        before; cosign if it holds."""
        try:
            new = checkpoint.verify(note, log_id, key)
        except VerificationError as err:
            return Outcome(log_id, "refused", 0, f"its checkpoint: {err}")
        with self.deciding(log_id):
            return self._decide(log_id, new, note)

    @contextlib.contextmanager
    def deciding(self, log_id: str) -> Iterator[None]:
        """One decision on ``log_id`` at a time, from what was cosigned before to the
        new cosignature: the daemon's job, its HTTP endpoint and a ``seid witness
        cosign`` share this state, and none may cosign from an outdated view of it."""
        path = sei_dir(self.repo, "witness", self.witness_id) / f"{log_id}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _decide(self, log_id: str, new: checkpoint.Checkpoint, note: bytes) -> Outcome:
        old = self.previous(log_id)
        if old is not None and old.size == new.size and old.root == new.root:
            return Outcome(log_id, "unchanged", new.size)
        start = self._range(log_id, old)
        if start is not None and start.size <= new.size:
            try:
                grown: Range | None = extend(self.repo, log_id, start)
            except records.RecordError:
                grown = None  # cut short, or records where ours ended: the whole log decides
            if grown is not None and (grown.size, grown.root()) == (new.size, new.root):
                self.cosign(log_id, note, grown)
                return Outcome(log_id, "cosigned", new.size)
        try:
            return self._judge_whole(log_id, old, new, note)
        except records.RecordError as err:
            return Outcome(log_id, "refused", new.size, f"the log is corrupt: {err}")

    def _range(self, log_id: str, old: checkpoint.Checkpoint | None) -> Range | None:
        """Where to start reading: the empty tree before any cosignature, the kept range
        when it is the cosigned tree, else None (the whole log must decide)."""
        if old is None:
            return Range(0, 0, ())
        path = self.state / f"{log_id}.range"
        kept = Range.parse(path.read_bytes()) if path.is_file() else None
        if kept is None or kept.size != old.size or kept.root() != old.root:
            return None
        return kept

    def _judge_whole(
        self,
        log_id: str,
        old: checkpoint.Checkpoint | None,
        new: checkpoint.Checkpoint,
        note: bytes,
    ) -> Outcome:
        """Hash every entry: the log must be its checkpoint's tree, and an RFC 9162 proof
        from the tree cosigned before must hold; a failure is an equivocation."""
        hashes = leaves(self.repo, log_id)
        if len(hashes) != new.size or merkle.root_of(hashes) != new.root:
            return Outcome(log_id, "refused", new.size, _NOT_ITS_CHECKPOINT)
        if old is not None:
            proof = self._proof(hashes, old.size, new.size)
            why = consistent(old, new, proof)
            if why:
                self.equivocation(log_id, old, new, why)
                return Outcome(log_id, "refused", new.size, why)
        self.cosign(log_id, note, extend(self.repo, log_id, Range(0, 0, ())))
        return Outcome(log_id, "cosigned", new.size)

    def cosign(self, log_id: str, note: bytes, read: Range | None = None) -> bytes:
        """Cosign a checked note and remember it, before anyone sees the cosignature;
        with ``read``, also where the log's reading stopped (else that is forgotten)."""
        cosigned = cosignature.cosign(note, self.signer, self.witness_id)
        directory = sei_dir(self.repo, "witness", self.witness_id)
        write_atomic(directory / log_id, cosigned)
        if read is not None:
            write_atomic(directory / f"{log_id}.range", read.to_bytes())
        else:
            (directory / f"{log_id}.range").unlink(missing_ok=True)
        return cosigned

    @staticmethod
    def _proof(hashes: list[bytes], old: int, new: int) -> list[bytes]:
        if old == 0 or old >= new:
            return []
        return merkle.consistency_path(old, new, lambda a, b: merkle.root_of(hashes[a:b]))

    def equivocation(
        self, log_id: str, old: checkpoint.Checkpoint, new: checkpoint.Checkpoint, why: str
    ) -> Path:
        """Keep both signed checkpoints, signed by this witness: a portable proof."""
        parted = self._parting(log_id)
        predicate = {
            "log_id": log_id,
            "reason": why,
            "first_differing_entry": parted,
            "cosigned": old.note.decode(),
            "conflicting": new.note.decode(),
            "detected": datetime.now(UTC).replace(microsecond=0).isoformat(),
        }
        subject = evidence.Subject(f"seid/{log_id}", hashlib.sha256(new.note).hexdigest())
        statement = evidence.statement([subject], EQUIVOCATION_TYPE, predicate)
        directory = sei_dir(self.repo, "witness", self.witness_id, "equivocations")
        path = directory / f"{log_id}-{old.size}-{new.size}.json"
        write_atomic(path, evidence.sign(statement, self.signer))
        return path

    def _parting(self, log_id: str) -> int | None:
        """The first entry where the witnessed log and the published one differ."""
        spec = f"{witness_ref(self.witness_id)}:{log_id}.log"
        if not git.succeeds(self.repo, "cat-file", "-e", spec):
            return None
        return parting(self.repo, spec, log_id)


def parting(repo: Path, witnessed_spec: str, log_id: str) -> int | None:
    """First entry where the log blob ``witnessed_spec`` and the published log differ;
    the published size when it is a cut-back prefix; None when it extends the blob."""
    with git.stream_blob(repo, witnessed_spec) as ours, open_ref_log(repo, log_id) as theirs:
        result = compare(ours, theirs)
    if result.fork_at is not None:
        return result.fork_at
    with git.stream_blob(repo, witnessed_spec) as ours:
        size = sum(1 for _ in records.iterate_pairs(ours))
    return result.ref_size if result.ref_size < size else None


def default_remote(repo: Path) -> str | None:
    """``origin`` when the clone has one: where hosts push their logs."""
    return "origin" if git.config(repo, "remote.origin.url") else None


def run(repo: Path, signer: Signer, remote: str | None, trusted: dict[str, Key]) -> list[Outcome]:
    """One witnessing pass: fetch the logs, cosign what grew consistently, push the
    cosignatures (what ``seid witness cosign`` and the daemon's ``witness`` job do)."""
    me = Witness(repo, signer)
    if remote is not None:
        fetch(repo, remote, me.witness_id)
    outcomes = me.cosign_all(trusted)
    if remote is not None:
        fetched = git.probe(repo, "rev-parse", "--verify", "-q", REMOTE_COPY + me.witness_id)
        if tip(repo, me.witness_id) != (fetched or None):  # also what an earlier pass left
            push(repo, remote, me.witness_id)
    return outcomes


def fetch(repo: Path, remote: str, witness_id: str) -> None:
    """Fetch every published log, rewritten ones included (a witness must see those),
    and the remote's copy of this witness's ref (what other clones of its key cosigned;
    a pattern, so a remote without one is no error)."""
    own = f"+{witness_ref(witness_id)}*:{REMOTE_COPY}{witness_id}*"
    git.run(repo, "fetch", "-q", remote, "+refs/seid/ledger/*:refs/seid/ledger/*", own)


def witness_refs(repo: Path) -> list[str]:
    """Witness ids with a ref here (fetched or own)."""
    try:
        out = git.run(repo, "for-each-ref", "--format=%(refname)", REF_PREFIX)
    except SeidError:
        return []
    ids = (line.removeprefix(REF_PREFIX) for line in out.splitlines())
    return sorted(i for i in ids if is_log_id(i))


def equivocations(repo: Path, witness_id: str) -> list[dict[str, object]]:
    """The equivocation records this witness kept, decoded (for display and tests)."""
    directory = repo / ".sei" / "witness" / witness_id / "equivocations"
    if not directory.is_dir():
        return []
    return [
        evidence.decode(path.read_bytes())["predicate"] for path in sorted(directory.glob("*.json"))
    ]
