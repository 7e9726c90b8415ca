"""Witness cosignatures on checkpoints, in the C2SP ``tlog-cosignature`` v1 form.

A cosignature is one more signature line on a log's checkpoint note::

    — seid-witness/<witness-id> base64(key id || u64 timestamp || Ed25519 signature)

The key id is SHA-256(name || 0x0A || 0x04 || raw Ed25519 key)[:4] and the signature
covers ``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint's body, so
stock C2SP verifiers (Sigsum, the Go sumdb witnesses) can check a seid cosignature
given the witness's public key. The statement it makes: at that time, this is the
largest tree of the log the witness saw, consistent with every one it saw before.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time

from securesystemslib.signer import Key, Signer  # type: ignore[attr-defined]

from seid.errors import VerificationError
from seid.evidence import signature_ok
from seid.ledger import checkpoint

NAME_PREFIX = "seid-witness/"
_HEADER = b"cosignature/v1\n"
_TYPE = b"\x04"  # C2SP signed-note: timestamped Ed25519 cosignature
_SKEW = 300  # seconds a cosignature may lie in the future (clocks differ)


def name(witness_id: str) -> str:
    """The key name on a witness's signature lines."""
    return f"{NAME_PREFIX}{witness_id}"


def key_hash(witness_name: str, key: Key) -> bytes:
    """The 4-byte id of a cosigning key; only Ed25519 keys can cosign (C2SP v1)."""
    public = key.keyval.get("public")
    if key.keytype != "ed25519" or not isinstance(public, str):
        raise VerificationError(f"witness key {key.keyid[:16]} is not an Ed25519 key")
    raw = bytes.fromhex(public)
    return hashlib.sha256(witness_name.encode() + b"\n" + _TYPE + raw).digest()[:4]


def body(note: bytes) -> bytes:
    """The signed body of a note: every line before the blank one, final newline kept."""
    return note[: note.rindex(b"\n\n") + 1]


def message(note: bytes, timestamp: int) -> bytes:
    """What a cosignature signs: header, time line, then the checkpoint's body."""
    return _HEADER + f"time {timestamp}\n".encode() + body(note)


def cosign(note: bytes, signer: Signer, witness_id: str, timestamp: int | None = None) -> bytes:
    """``note`` (the log's signed checkpoint) with this witness's cosignature appended."""
    stamp = int(time.time()) if timestamp is None else timestamp
    who = name(witness_id)
    signature = bytes.fromhex(signer.sign(message(note, stamp)).signature)
    blob = key_hash(who, signer.public_key) + struct.pack(">Q", stamp) + signature
    line = f"{checkpoint.DASH} {who} {base64.b64encode(blob).decode()}\n"
    return note + line.encode()


def split(cosigned: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The log's own note (body and its origin's signature line) and the other lines."""
    parsed, lines = checkpoint.parse(cosigned)
    own = [(who, blob) for who, blob in lines if who == parsed.origin]
    others = [(who, blob) for who, blob in lines if who != parsed.origin]
    if len(own) != 1:
        raise VerificationError("a cosigned checkpoint carries exactly one signature of its log")
    stamp = base64.b64encode(own[0][1]).decode()
    note = body(cosigned) + f"\n{checkpoint.DASH} {parsed.origin} {stamp}\n".encode()
    return note, others


def verify(cosigned: bytes, witness_id: str, key: Key, now: float | None = None) -> int:
    """The timestamp of ``witness_id``'s valid cosignature on ``cosigned``.

    :class:`VerificationError` when there is none that verifies under ``key``, or its
    time lies in the future.
    """
    note, lines = split(cosigned)
    who = name(witness_id)
    wanted = key_hash(who, key)
    mine = [blob for line_name, blob in lines if line_name == who and blob[:4] == wanted]
    if not mine:
        raise VerificationError(f"no cosignature by witness {witness_id[:16]}")
    blob = mine[0]
    if len(blob) != 4 + 8 + 64:
        raise VerificationError("cosignature is not a timestamped Ed25519 signature")
    (stamp,) = struct.unpack(">Q", blob[4:12])
    if stamp >= 1 << 63 or stamp > (time.time() if now is None else now) + _SKEW:
        raise VerificationError(f"cosignature by witness {witness_id[:16]} is dated ahead")
    if not signature_ok(key, blob[12:], message(note, stamp)):
        raise VerificationError(f"cosignature by witness {witness_id[:16]} does not verify")
    return int(stamp)
