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
"""

from __future__ import annotations

import hashlib
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
from seid.ledger.witness_ref import REF_PREFIX, publish_state, push, witness_ref

EQUIVOCATION_TYPE = "https://seid.dev/equivocation/v1"


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

    def previous(self, log_id: str) -> checkpoint.Checkpoint | None:
        """The newest checkpoint this witness cosigned for ``log_id``: its own state,
        else what its published ref holds (a witness re-cloned elsewhere)."""
        path = self.state / log_id
        if path.is_file():
            note = path.read_bytes()
        else:
            spec = f"{witness_ref(self.witness_id)}:{log_id}"
            if not git.succeeds(self.repo, "cat-file", "-e", spec):
                return None
            note = git.output(self.repo, "cat-file", "blob", spec)
        return checkpoint.parse(note)[0]

    def cosign_all(self, trusted: dict[str, Key]) -> list[Outcome]:
        """Cosign every trusted published log that grew consistently, then publish every
        note the witness's state holds and its ref does not (those cosigned over HTTP
        too: :mod:`seid.ledger.witness_ref`)."""
        outcomes = []
        for log_id in sorted(ref_logs(self.repo)):
            key = trusted.get(log_id)
            if key is None or log_id == self.witness_id:
                continue  # an untrusted log, or our own: nothing to vouch for
            outcomes.append(self.cosign_log(log_id, key)[0])
        publish_state(self.repo, self.witness_id, self.state)
        return outcomes

    def cosign_log(self, log_id: str, key: Key) -> tuple[Outcome, bytes | None]:
        """Check the published log against what was cosigned before; cosign if it holds."""
        note = git.output(self.repo, "cat-file", "blob", f"{ref_name(log_id)}:checkpoint")
        try:
            new = checkpoint.verify(note, log_id, key)
        except VerificationError as err:
            return Outcome(log_id, "refused", 0, f"its checkpoint: {err}"), None
        hashes = leaves(self.repo, log_id)
        if len(hashes) != new.size or merkle.root_of(hashes) != new.root:
            return Outcome(
                log_id, "refused", new.size, "the log does not match its checkpoint"
            ), None
        old = self.previous(log_id)
        if old is not None and old.size == new.size and old.root == new.root:
            return Outcome(log_id, "unchanged", new.size), None
        if old is not None:
            proof = self._proof(hashes, old.size, new.size)
            why = consistent(old, new, proof)
            if why:
                self.equivocation(log_id, old, new, why)
                return Outcome(log_id, "refused", new.size, why), None
        return Outcome(log_id, "cosigned", new.size), self.cosign(log_id, note)

    def cosign(self, log_id: str, note: bytes) -> bytes:
        """Cosign a checked note and remember it, before anyone sees the cosignature."""
        cosigned = cosignature.cosign(note, self.signer, self.witness_id)
        write_atomic(sei_dir(self.repo, "witness", self.witness_id) / log_id, cosigned)
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
    if remote is not None:
        fetch(repo, remote)
    me = Witness(repo, signer)
    outcomes = me.cosign_all(trusted)
    if remote is not None:  # also what an earlier pass could not push
        push(repo, remote, me.witness_id)
    return outcomes


def fetch(repo: Path, remote: str) -> None:
    """Fetch every published log, rewritten ones included (a witness must see those)."""
    git.run(repo, "fetch", "-q", remote, "+refs/seid/ledger/*:refs/seid/ledger/*")


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
