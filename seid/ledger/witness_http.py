"""The C2SP ``tlog-witness`` ``add-checkpoint`` call, for seid logs: witnessing without git.

The request body is ``old <size>``, up to 63 base64 consistency-proof lines, a blank
line, then the log's signed checkpoint; the answer is the status the protocol names
(404 unknown log, 403 bad signature, 400 malformed or old size past the checkpoint,
409 with ``text/x.tlog.size`` when the old size is not the one this witness cosigned
last, 422 when the proof fails) or 200 with the cosignature line. The check and the
update of the witness's state happen under the witness's lock on that log
(:meth:`Witness.deciding`), so neither two requests nor a request and the witness's git
pass can roll the state back. The witness's next git pass publishes what it cosigned here
(:func:`seid.ledger.witness_ref.publish_state`), so auditors see it.
"""

from __future__ import annotations

from dataclasses import dataclass

from securesystemslib.signer import Key  # type: ignore[attr-defined]

from seid.errors import VerificationError
from seid.evidence import canonical_b64decode
from seid.ledger import checkpoint, cosignature, merkle
from seid.ledger.paths import is_log_id
from seid.ledger.witness import Witness, consistent

MAX_PROOF = 63
SIZE_TYPE = "text/x.tlog.size"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


def add_checkpoint(witness: Witness, trusted: dict[str, Key], body: bytes) -> Answer:
    """Answer one ``add-checkpoint`` request (see the module doc)."""
    try:
        old_size, proof, submitted = _parse(body)
        stated = checkpoint.parse(submitted)[0]
    except (ValueError, VerificationError) as err:
        return Answer(400, f"{err}\n".encode())
    log_id = stated.origin.removeprefix(checkpoint.ORIGIN_PREFIX)
    key = trusted.get(log_id) if is_log_id(log_id) else None
    if key is None or log_id == witness.witness_id:
        return Answer(404, b"unknown log\n")
    try:
        note, _ = cosignature.split(submitted)  # other signatures are ignored
        new = checkpoint.verify(note, log_id, key)
    except VerificationError as err:
        return Answer(403, f"{err}\n".encode())
    if old_size > new.size:
        return Answer(400, b"old size is past the checkpoint\n")
    with witness.deciding(log_id):
        return _decide(witness, log_id, note, new, old_size, proof)


def _decide(
    witness: Witness,
    log_id: str,
    note: bytes,
    new: checkpoint.Checkpoint,
    old_size: int,
    proof: list[bytes],
) -> Answer:
    old = witness.previous(log_id)
    if old_size != (old.size if old is not None else 0):
        latest = old.size if old is not None else 0
        return Answer(409, f"{latest}\n".encode(), SIZE_TYPE)
    if old is None or old.size == 0:
        if proof:
            return Answer(422, b"a proof from size 0 must be empty\n")
    elif old.size == new.size and old.root != new.root:
        witness.equivocation(log_id, old, new, "same size, another root")
        return Answer(409, f"{old.size}\n".encode(), SIZE_TYPE)
    else:
        why = consistent(old, new, proof)
        if why:
            witness.equivocation(log_id, old, new, why)
            return Answer(422, f"{why}\n".encode())
    cosigned = witness.cosign(log_id, note)
    return Answer(200, cosigned[len(note) :])


def _parse(body: bytes) -> tuple[int, list[bytes], bytes]:
    head, blank, submitted = body.partition(b"\n\n")
    if not blank:
        raise ValueError("no blank line before the checkpoint")
    lines = head.decode("ascii", "replace").split("\n")
    first = lines[0].split(" ")
    if len(first) != 2 or first[0] != "old" or not first[1].isdigit():
        raise ValueError("the first line is not: old <size>")
    if first[1] != str(int(first[1])):
        raise ValueError("old size has leading zeroes")
    if len(lines) - 1 > MAX_PROOF:
        raise ValueError(f"more than {MAX_PROOF} proof lines")
    proof = [canonical_b64decode(line, "proof line", urlsafe_too=False) for line in lines[1:]]
    if any(len(node) != merkle.HASH_SIZE for node in proof):
        raise ValueError("a proof line is not a SHA-256 hash")
    return int(first[1]), proof, submitted
