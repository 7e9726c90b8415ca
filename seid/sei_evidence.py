"""Evidence written by the sei engine under ``.venth/``, checked without the engine.

Teams moving from the sei engine keep their signed history: ``bundle.json``,
``reconstruct.json`` and ``conformance/*.json``, each with a ``.sig`` beside it, and
``PUBKEY.txt``. A ``.sig`` is a DSSE envelope around an in-toto Statement whose subject
is the file beside it; the signature is ECDSA P-256 (SHA-256) over the DSSE PAE,
encoded as raw ``r || s``; ``PUBKEY.txt`` is the hex of the uncompressed point and the
key id is the SHA-256 of those 65 bytes. Every problem is reported per file, so one bad
file does not hide the others.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256

from seid.errors import InputError, SeidError, VerificationError
from seid.evidence import STATEMENT_TYPE, check_statement, file_sha256, pae
from seid.evidence import parse_envelope as parse_dsse
from seid.keys import key_id_of, p256_from_hex

PUBKEY_FILE = "PUBKEY.txt"
SIG_SUFFIX = ".sig"
_TOP_LEVEL = ("bundle.json", "reconstruct.json")
_STATEMENT_TYPES = (STATEMENT_TYPE, "https://in-toto.io/Statement/v0.1")
_MAX_SIG = 64 << 20


@dataclass
class VenthReport:
    """How many signed files were checked, and each bad one as (file, reason)."""

    checked: int
    bad: list[tuple[str, str]] = field(default_factory=list)
    key_id: str = ""

    @property
    def ok(self) -> bool:
        return not self.bad


@dataclass(frozen=True)
class _PublicKey:
    key: ec.EllipticCurvePublicKey
    key_id: str


def verify_sei_dir(path: Path, trusted_ids: Collection[str] | None = None) -> VenthReport:
    """Check every signed file under a ``.venth`` directory.

    With ``trusted_ids`` the key in ``PUBKEY.txt`` must be one of them: a key stored
    beside the evidence only proves the files were not changed since *someone* signed.
    Raises :class:`InputError` when the directory or its ``PUBKEY.txt`` is unusable.
    """
    if not path.is_dir():
        raise InputError(path, "not a directory")
    public = _load_pubkey(path / PUBKEY_FILE)
    report = VenthReport(checked=0, key_id=public.key_id)
    if trusted_ids is not None and public.key_id not in trusted_ids:
        report.bad.append((PUBKEY_FILE, f"key {public.key_id[:16]} is not trusted"))
    for rel in _signed_files(path):
        report.checked += 1
        try:
            _check_file(path, rel, public)
        except SeidError as err:  # VerificationError, or an unreadable file
            report.bad.append((rel, str(err)))
    return report


def _load_pubkey(path: Path) -> _PublicKey:
    try:
        key = p256_from_hex(path.read_text(encoding="ascii"))
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from None
    except ValueError:  # also UnicodeDecodeError, and a point off the curve
        raise InputError(path, "not the hex of an uncompressed P-256 public key") from None
    return _PublicKey(key, key_id_of(key))


def _signed_files(root: Path) -> Iterator[str]:
    """Relative POSIX names of evidence files and orphan signatures, in a stable order."""
    names = [name for name in _TOP_LEVEL if _exists(root / name)]
    conformance = root / "conformance"
    if conformance.is_dir():
        found = {p.name for p in conformance.glob("*.json")}
        found |= {p.name[: -len(SIG_SUFFIX)] for p in conformance.glob(f"*.json{SIG_SUFFIX}")}
        names += [f"conformance/{name}" for name in sorted(found)]
    yield from names


def _exists(path: Path) -> bool:
    return path.exists() or path.with_name(path.name + SIG_SUFFIX).exists()


def _check_file(root: Path, rel: str, public: _PublicKey) -> None:
    target = root / rel
    sig_path = target.with_name(target.name + SIG_SUFFIX)
    if not sig_path.is_file():
        raise VerificationError(f"no signature ({sig_path.name} is missing)")
    if not target.is_file():
        raise VerificationError("the signed file is missing")
    statement = _verify_envelope(_read_sig(sig_path), public)
    digest = _subject_digest(statement, rel)
    if digest.lower() != file_sha256(target):
        raise VerificationError("file does not match the signed sha256 digest")


def _read_sig(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_SIG + 1)
    except OSError as exc:
        raise VerificationError(f"cannot read {path.name}: {exc.strerror}") from None
    if len(data) > _MAX_SIG:
        raise VerificationError(f"{path.name} is too large")
    return data


def _verify_envelope(data: bytes, public: _PublicKey) -> dict[str, Any]:
    """The statement of an envelope signed by ``public``, or VerificationError."""
    envelope = parse_dsse(data)
    message = pae(envelope.payload_type, envelope.payload)
    mine = [sig for keyid, sig in envelope.signatures if keyid in (None, public.key_id)]
    if not mine:
        raise VerificationError("no signature by the key in PUBKEY.txt")
    if not any(_ecdsa_ok(public.key, sig, message) for sig in mine):
        raise VerificationError("bad signature")
    return check_statement(envelope.payload, accept=_STATEMENT_TYPES)


def _ecdsa_ok(key: ec.EllipticCurvePublicKey, sig: bytes, message: bytes) -> bool:
    """Check a raw ``r || s`` P-256 signature (as JOSE and the sei engine write it)."""
    if len(sig) != 64:
        return False
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(SHA256()))
    except InvalidSignature:
        return False
    return True


def _subject_digest(statement: dict[str, Any], rel: str) -> str:
    """The sha256 the statement records for ``rel``; names may carry a directory prefix
    (``.venth/bundle.json``) or only the base name (``x.json`` for ``conformance/x.json``)."""
    subjects = statement["subject"]
    for subject in subjects:
        name = subject.get("name")
        if isinstance(name, str) and _same_file(name, rel):
            digest = subject["digest"].get("sha256")
            if not isinstance(digest, str):
                raise VerificationError("subject has no sha256 digest")
            return digest
    raise VerificationError("the statement's subject is not this file")


def _same_file(name: str, rel: str) -> bool:
    a = PurePosixPath(name.removeprefix("./")).parts
    b = PurePosixPath(rel).parts
    shorter, longer = sorted((a, b), key=len)
    return bool(shorter) and longer[len(longer) - len(shorter) :] == shorter
