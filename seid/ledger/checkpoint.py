"""Signed checkpoints in the transparency-log signed-note form (C2SP tlog-checkpoint).

A checkpoint commits the signer to one tree size and root::

    seid/<log-id>
    <size>
    <base64 root>
    previous <base64 SHA-256 of the previous checkpoint note>

    — seid/<log-id> <base64(4-byte key hash || signature)>

The signature covers the body (every line before the blank one, final newline
included). The ``previous`` line is a C2SP extension line, which stock verifiers ignore;
seid writes it on every checkpoint after the first. It chains each checkpoint to the
exact bytes (signature included) of the one before, so one verified signature vouches
for every checkpoint back along an unbroken chain: a verifier checks every checkpoint
at the cost of one signature per segment, not one per checkpoint. A note without the
line (written before it existed) is simply verified on its own. The key hash
is SHA-256(key name || 0x0A || 0x01 || raw Ed25519 key)[:4] as in golang.org/x/mod's
sumdb/note, so stock note verifiers can check a seid checkpoint given the public key.
Keys of other types (a KMS ECDSA key, say) use the experimental type byte 0xff and the
key id in place of the raw key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass

from securesystemslib.signer import Key, Signer  # type: ignore[attr-defined]

from seid.errors import VerificationError
from seid.evidence import canonical_b64decode, signature_ok
from seid.ledger.merkle import HASH_SIZE

ORIGIN_PREFIX = "seid/"
DASH = "\u2014"
MAX_NOTE = 16 * 1024
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")  # signed notes allow no control but newline
_ED25519_TYPE = b"\x01"
_OTHER_TYPE = b"\xff"


_PREVIOUS = "previous "


@dataclass(frozen=True)
class Checkpoint:
    """A parsed checkpoint; ``note`` is the exact signed text it came from, ``previous``
    the link to its predecessor (:func:`link` of that note), if it carries one."""

    origin: str
    size: int
    root: bytes
    note: bytes
    previous: bytes | None = None

    @property
    def log_id(self) -> str:
        return self.origin.removeprefix(ORIGIN_PREFIX)


def origin(log_id: str) -> str:
    return f"{ORIGIN_PREFIX}{log_id}"


def link(note: bytes) -> bytes:
    """What the next checkpoint's ``previous`` line commits to: SHA-256 of the whole note."""
    return hashlib.sha256(note).digest()


def body(log_id: str, size: int, root: bytes, previous: bytes | None = None) -> bytes:
    """The signed text of a checkpoint; ``previous`` is the note it follows, if any."""
    text = f"{origin(log_id)}\n{size}\n{base64.b64encode(root).decode()}\n"
    if previous is not None:
        text += f"{_PREVIOUS}{base64.b64encode(link(previous)).decode()}\n"
    return text.encode()


def key_hash(name: str, key: Key) -> bytes:
    """The 4-byte key hash that names ``key`` on a signature line."""
    public = key.keyval.get("public")
    return _key_hash(name, key.keytype, public if isinstance(public, str) else None, key.keyid)


@functools.lru_cache(maxsize=64)
def _key_hash(name: str, keytype: str, public: str | None, keyid: str) -> bytes:
    if keytype == "ed25519" and public is not None:
        try:
            material = _ED25519_TYPE + bytes.fromhex(public)
        except ValueError:
            material = _OTHER_TYPE + keyid.encode()
    else:
        material = _OTHER_TYPE + keyid.encode()
    return hashlib.sha256(name.encode() + b"\n" + material).digest()[:4]


def sign(
    log_id: str, size: int, root: bytes, signer: Signer, previous: bytes | None = None
) -> bytes:
    """The signed note for tree ``size``/``root`` of log ``log_id``, chained to the
    ``previous`` note (the checkpoint of the tree it extends)."""
    text = body(log_id, size, root, previous)
    name = origin(log_id)
    signature = bytes.fromhex(signer.sign(text).signature)
    stamp = base64.b64encode(key_hash(name, signer.public_key) + signature).decode()
    return text + f"\n{DASH} {name} {stamp}\n".encode()


def parse(note: bytes) -> tuple[Checkpoint, list[tuple[str, bytes]]]:
    """Split a note into its checkpoint and ``(key name, key hash || signature)`` lines.

    Nothing is trusted yet; any malformation is a :class:`VerificationError`.
    """
    checkpoint, text, cut = _parse_body(note)
    signatures = []
    for line in text[cut + 2 :].split("\n")[:-1]:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH or not parts[1]:
            raise VerificationError("malformed checkpoint signature line")
        signature = canonical_b64decode(parts[2], "checkpoint signature", urlsafe_too=False)
        signatures.append((parts[1], signature))
    if not signatures:
        raise VerificationError("checkpoint is not signed")
    return checkpoint, signatures


def read(note: bytes, log_id: str) -> Checkpoint:
    """The body of log ``log_id``'s checkpoint ``note``, signature NOT checked (a
    verifier that chains checkpoints checks it once per chain, see the module doc)."""
    checkpoint = _parse_body(note)[0]
    _check_origin(checkpoint, log_id)
    return checkpoint


def _parse_body(note: bytes) -> tuple[Checkpoint, str, int]:
    """The checkpoint a note's body states, its text and where the blank line is."""
    if len(note) > MAX_NOTE:
        raise VerificationError("checkpoint is too large")
    try:
        text = note.decode("utf-8")
    except UnicodeDecodeError:
        raise VerificationError("checkpoint is not UTF-8") from None
    if _CONTROL.search(text):
        raise VerificationError("checkpoint contains control characters")
    cut = text.rfind("\n\n")
    if cut < 0 or not text.endswith("\n"):
        raise VerificationError("checkpoint is not a signed note")
    lines = text[:cut].split("\n")
    if len(lines) < 3 or not _SIZE.fullmatch(lines[1]) or "" in lines:
        raise VerificationError("checkpoint body is not origin, size, root")
    root = _hash(lines[2], "checkpoint root")
    previous = None
    for extension in lines[3:]:
        if extension.startswith(_PREVIOUS):
            if previous is not None:
                raise VerificationError("checkpoint has two previous lines")
            previous = _hash(extension[len(_PREVIOUS) :], "checkpoint previous line")
    return Checkpoint(lines[0], int(lines[1]), root, note, previous), text, cut


def _hash(text: str, what: str) -> bytes:
    value = canonical_b64decode(text, what, urlsafe_too=False)
    if len(value) != HASH_SIZE:
        raise VerificationError(f"{what} is not a SHA-256 hash")
    return value


def _check_origin(checkpoint: Checkpoint, log_id: str) -> None:
    name = origin(log_id)
    if checkpoint.origin != name:
        raise VerificationError(f"checkpoint is for {checkpoint.origin!r}, not {name!r}")


def verify(note: bytes, log_id: str, key: Key) -> Checkpoint:
    """Parse ``note`` and check it is log ``log_id``'s checkpoint, signed by ``key``.

    A seid checkpoint carries exactly one signature, its log's: the ledger stores the
    notes seid wrote, so any other signature line (a cosignature, a copy) is an edit of
    the record, refused like any other.
    """
    checkpoint, signatures = parse(note)
    _check_origin(checkpoint, log_id)
    name = origin(log_id)
    signed_text = note[: note.rindex(b"\n\n") + 1]
    wanted = key_hash(name, key)
    mine = [blob for sig_name, blob in signatures if sig_name == name and blob[:4] == wanted]
    if not mine:
        raise VerificationError("checkpoint is not signed by the log's key")
    if len(signatures) > 1:
        raise VerificationError("checkpoint carries signature lines seid did not write")
    if not signature_ok(key, mine[0][4:], signed_text):
        raise VerificationError("checkpoint signature does not verify")
    return checkpoint


def peek_size(note: bytes) -> int | None:
    """The tree size a note claims, unverified (for crash recovery); None if unreadable."""
    lines = note.split(b"\n", 2)
    if len(lines) < 3 or not _SIZE.fullmatch(lines[1].decode("ascii", "replace")):
        return None
    return int(lines[1])
