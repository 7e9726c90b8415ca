"""Evidence bundles: in-toto Statement v1 signed as a DSSE envelope.

The envelope bytes are what the ledger stores, so they are canonical: compact JSON with
sorted keys, standard base64, one signature. Verification follows DSSE exactly (the
signature covers the pre-authentication encoding of payload type and payload), so a
stock DSSE implementation such as securesystemslib's verifies what seid writes.

``verify`` is on the ledger's hot path (about 10,000 envelopes per second per core), so
Ed25519 keys are checked directly with cached ``cryptography`` key objects; other key
types go through securesystemslib's ``Key.verify_signature``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from securesystemslib.exceptions import UnverifiedSignatureError
from securesystemslib.exceptions import VerificationError as SslibVerificationError
from securesystemslib.signer import Key, Signature, Signer  # type: ignore[attr-defined]

from seid.errors import InputError, SeidError, VerificationError
from seid.fsutil import open_regular

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
EVIDENCE_PREDICATE = "https://seid.dev/evidence/v1"

_HASH_BUFFER = 1 << 20


@dataclass(frozen=True)
class Subject:
    """One artifact a statement is about: its name (repo-relative path) and SHA-256."""

    name: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "digest": {"sha256": self.sha256}}


@dataclass(frozen=True)
class Verified:
    """A verified envelope: its statement and the trusted key ids that signed it."""

    statement: dict[str, Any]
    keyids: tuple[str, ...]


@dataclass(frozen=True)
class Envelope:
    """A parsed DSSE envelope; signatures as (keyid or None, raw signature bytes)."""

    payload_type: str
    payload: bytes
    signatures: tuple[tuple[str | None, bytes], ...]


def file_sha256(path: Path) -> str:
    """Lowercase hex SHA-256 of a file, read in 1 MiB blocks."""
    try:
        with open_regular(path, raw=True) as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from None


def subject_for_file(path: Path, root: Path) -> Subject:
    """The subject for a file, named by its POSIX path relative to ``root``."""
    try:
        name = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise InputError(path, f"is outside {root}") from None
    return Subject(name, file_sha256(path))


def statement(subjects: Iterable[Subject], predicate_type: str, predicate: Any) -> dict[str, Any]:
    """An in-toto Statement v1 about ``subjects``."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [subject.to_dict() for subject in subjects],
        "predicateType": predicate_type,
        "predicate": predicate,
    }


def canonical_json(value: Any) -> bytes:
    """Compact JSON with sorted keys, ASCII only: the one byte form seid signs and stores."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SeidError(
            f"evidence is not plain JSON (NaN, infinity or other type): {exc}"
        ) from None
    return text.encode("ascii")


def jcs_sha256(value: Any) -> str:
    """Hex SHA-256 of ``value`` in RFC 8785 (JCS) canonical JSON: for digests another
    tool recomputes from the same facts (code versions, a registry version's identity),
    which any JCS implementation reproduces byte for byte. Signed envelopes keep
    :func:`canonical_json`, their fixed form."""
    import rfc8785

    try:
        return hashlib.sha256(rfc8785.dumps(value)).hexdigest()
    except (rfc8785.CanonicalizationError, TypeError) as exc:
        raise SeidError(f"not plain JSON for RFC 8785: {exc}") from None


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what the signature actually covers."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def sign(statement: dict[str, Any], signer: Signer) -> bytes:
    """The DSSE envelope for ``statement``, as the exact bytes the ledger stores."""
    payload = canonical_json(statement)
    try:
        check_statement(payload)
    except VerificationError as err:  # a caller's mistake, not a finding about evidence
        raise SeidError(f"refusing to sign: {err}") from None
    signature = signer.sign(pae(PAYLOAD_TYPE, payload))
    envelope = {
        "payload": _b64(payload),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": signature.keyid, "sig": _b64(bytes.fromhex(signature.signature))}],
    }
    return canonical_json(envelope)


def _b64(data: bytes) -> str:
    return base64.standard_b64encode(data).decode("ascii")


def canonical_b64decode(text: Any, what: str, *, urlsafe_too: bool = True) -> bytes:
    """Strict, canonical base64: standard, or URL-safe too as DSSE allows.

    Canonical: the one spelling of its bytes. A flip in the unused low bits of the last
    character would otherwise decode to the same bytes, and an edited envelope (or a
    checkpoint's signature line, which no signature covers) would verify. (``a2b_base64``
    in strict mode is several times faster than ``b64decode(validate=True)``.)
    """
    if not isinstance(text, str):
        raise VerificationError(f"{what} is not a base64 string")
    urlsafe = False
    try:
        value = binascii.a2b_base64(text, strict_mode=True)
    except ValueError:  # binascii.Error is a ValueError; so are non-ASCII strings
        if not urlsafe_too or "+" in text or "/" in text:  # never mix the alphabets
            raise VerificationError(f"{what} is not valid base64") from None
        try:
            value = binascii.a2b_base64(text.translate(_URLSAFE), strict_mode=True)
        except ValueError:
            raise VerificationError(f"{what} is not valid base64") from None
        urlsafe = True
    again = binascii.b2a_base64(value, newline=False).decode("ascii")
    if (again.translate(_TO_URLSAFE) if urlsafe else again) != text:
        raise VerificationError(f"{what} is not canonical base64")
    return value


_URLSAFE = str.maketrans("-_", "+/")
_TO_URLSAFE = str.maketrans("+/", "-_")


def _load_json(data: bytes, what: str) -> Any:
    try:  # JSON is UTF-8 (RFC 8259); decoding first also skips encoding detection
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise VerificationError(f"{what} is not JSON") from None


def parse_envelope(entry: bytes) -> Envelope:
    """Parse in-toto DSSE envelope bytes; any malformation is a :class:`VerificationError`."""
    obj = _load_json(entry, "envelope")
    if not isinstance(obj, dict) or not isinstance(obj.get("signatures"), list):
        raise VerificationError("not a DSSE envelope")
    payload_type = obj.get("payloadType")
    if not isinstance(payload_type, str):
        raise VerificationError("envelope has no payloadType")
    if payload_type != PAYLOAD_TYPE:
        raise VerificationError(f"payloadType is {payload_type[:64]!r}, want {PAYLOAD_TYPE}")
    payload = canonical_b64decode(obj.get("payload"), "payload")
    signatures: list[tuple[str | None, bytes]] = []
    for item in obj["signatures"]:
        if not isinstance(item, dict):
            raise VerificationError("malformed signature in envelope")
        keyid = item.get("keyid")
        if keyid is not None and not isinstance(keyid, str):
            raise VerificationError("malformed keyid in envelope")
        signatures.append((keyid or None, canonical_b64decode(item.get("sig"), "signature")))
    if not signatures:
        raise VerificationError("envelope has no signature")
    return Envelope(payload_type, payload, tuple(signatures))


def check_statement(payload: bytes, accept: tuple[str, ...] = (STATEMENT_TYPE,)) -> dict[str, Any]:
    """Parse a payload and check it is an in-toto Statement with well-formed subjects."""
    obj = _load_json(payload, "payload")
    bad = "payload is not an in-toto Statement v1"
    if not isinstance(obj, dict) or obj.get("_type") not in accept:
        raise VerificationError(bad)
    subjects = obj.get("subject")
    if not isinstance(obj.get("predicateType"), str) or not isinstance(subjects, list):
        raise VerificationError(f"{bad}: no predicateType or subject list")
    if not subjects:
        raise VerificationError(f"{bad}: empty subject list")
    if not isinstance(obj.get("predicate", {}), dict):
        raise VerificationError(f"{bad}: predicate is not an object")
    for subject in subjects:
        digest = subject.get("digest") if isinstance(subject, dict) else None
        if not isinstance(digest, dict) or not digest:
            raise VerificationError(f"{bad}: subject without digest")
        if not all(isinstance(v, str) for v in digest.values()):
            raise VerificationError(f"{bad}: subject digest is not a string")
        if not isinstance(subject.get("name", ""), str):
            raise VerificationError(f"{bad}: subject name is not a string")
    return obj


def decode(entry: bytes) -> dict[str, Any]:
    """The statement inside an envelope, NOT verified: for display only."""
    return check_statement(parse_envelope(entry).payload)


def verify(entry: bytes, trusted: Mapping[str, Key]) -> Verified:
    """Check an envelope against trusted keys; the statement and who signed it.

    Signatures by keys we do not trust are ignored; a signature that names a trusted
    key but does not verify fails the whole envelope (it is tampering, not noise).
    """
    envelope = parse_envelope(entry)
    message = pae(envelope.payload_type, envelope.payload)
    signers: list[str] = []
    for keyid, sig in envelope.signatures:
        if keyid is None:
            candidates = list(trusted.values())  # DSSE keyid is optional: try each
        else:
            candidates = [trusted[keyid]] if keyid in trusted else []
        for key in candidates:
            if signature_ok(key, sig, message):
                signers.append(key.keyid)
                break
        else:
            if keyid is not None and candidates:
                raise VerificationError(f"bad signature by key {keyid[:16]}")
    if not signers:
        raise VerificationError("no signature by a trusted key")
    return Verified(check_statement(envelope.payload), tuple(dict.fromkeys(signers)))


_ED25519_CACHE: dict[str, tuple[str, Ed25519PublicKey]] = {}


def signature_ok(key: Key, sig: bytes, message: bytes) -> bool:
    """Whether ``sig`` by ``key`` verifies over ``message`` (Ed25519 fast path, cached)."""
    public = key.keyval.get("public") if key.keytype == "ed25519" else None
    if key.scheme == "ed25519" and isinstance(public, str):
        cached = _ED25519_CACHE.get(key.keyid)
        if cached is None or cached[0] != public:
            try:
                cached = (public, Ed25519PublicKey.from_public_bytes(bytes.fromhex(public)))
            except ValueError:
                return False
            _ED25519_CACHE[key.keyid] = cached
        try:
            cached[1].verify(sig, message)
        except InvalidSignature:
            return False
        return True
    try:
        key.verify_signature(Signature(key.keyid, sig.hex()), message)
    except (UnverifiedSignatureError, SslibVerificationError, ValueError):
        return False
    return True
