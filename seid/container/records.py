"""Digest records: what a ``seid://`` store writes beside each container, and who vouches.

A record binds a container to its place: ``{"path": P, "run": R, "sha256": H, "size": N}``
(one line of JSON). Anyone who can write the store can write such a line, so when the
writing host has a signing key (:func:`seid.keys.find_private_key`: ``SEID_SIGNING_KEY``,
the systemd credential, or ``seid key generate``'s key) the record is instead a DSSE
envelope, signed with that key, around an in-toto statement whose subject is the path
and content digest and whose predicate (:data:`PREDICATE`) is the record itself.

A reader that sets ``SEID_TRUST_DIR`` to a directory of public keys (``*.pub``; a
repository's ``.sei/trust/`` will do) refuses every record no key there signed,
including the unsigned records of earlier seid versions (one hex line, or the JSON
line): a record rewritten without the key cannot pass. The requirement is the
reader's to state, never the store's (a store rewritten without the key would just
drop it). A reader without ``SEID_TRUST_DIR`` reads every record as before, signed or
not; the run's tag and the ledger's bundles still bind the content.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seid.container.core import Header, atomic_output
from seid.errors import SeidError, VerificationError

if TYPE_CHECKING:  # signing and key handling load only for a signed record or a key
    from securesystemslib.signer import Key, Signer  # type: ignore[attr-defined]

DIGEST_SUFFIX = ".seid-digest"
PREDICATE = "https://seid.dev/artifact-record/v1"
TRUST_ENV = "SEID_TRUST_DIR"
_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Record:
    """What the store wrote beside a container: the content, and where it belongs."""

    sha256: str
    size: int | None = None
    path: str | None = None  # below the store root, as the writer saw it
    run: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "run": self.run, "sha256": self.sha256, "size": self.size}

    def to_bytes(self, signer: Signer | None = None) -> bytes:
        """The record's line (no newline): plain JSON, or with ``signer`` its envelope."""
        from seid import evidence

        if signer is None:
            return evidence.canonical_json(self.to_dict())
        subject = evidence.Subject(self.path or "", self.sha256)
        return evidence.sign(evidence.statement([subject], PREDICATE, self.to_dict()), signer)

    def place(self) -> str:
        where = self.path or "?"
        return f"run {self.run}'s {where}" if self.run else where


def digest_path(artifact: Path) -> Path:
    return artifact.with_name(f".{artifact.name}{DIGEST_SUFFIX}")


def host_signer() -> Signer | None:
    """The host's signing key when one is configured, else None (records stay unsigned).
    A key that is configured but unusable is an error, never a silent unsigned record."""
    from seid import keys

    try:
        keys.find_private_key()
    except SeidError:
        return None
    return keys.load_signer()


def write_record(
    artifact: Path, header: Header, path: str, run: str | None, signer: Signer | None
) -> Record:
    """Write the record of ``artifact``, signed by ``signer`` (:func:`host_signer`, found
    before the container is packed so that a bad key leaves nothing half-written)."""
    record = Record(header.hexdigest, header.size, path, run)
    line = record.to_bytes(signer)
    with atomic_output(digest_path(artifact)) as out:
        out.write(line + b"\n")
    return record


def reader_keys() -> dict[str, Key]:
    """The keys a record must be signed by: the ``*.pub`` files in ``$SEID_TRUST_DIR``
    (empty when it is unset or empty: records are not checked for a signature)."""
    configured = os.environ.get(TRUST_ENV)
    if not configured:
        return {}
    if not Path(configured).is_dir():
        raise SeidError(f"{TRUST_ENV}={configured}: not a directory")
    from seid import keys

    return keys.keys_in(Path(configured))


def read_record(artifact: Path, name: str, trusted: dict[str, Key] | None = None) -> Record:
    """The record beside ``artifact``, checked against ``trusted`` (default:
    :func:`reader_keys`); a missing, unreadable or unsigned record is a finding."""
    try:
        data = digest_path(artifact).read_bytes()
        text = data.decode("ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        raise VerificationError(f"{name}: no valid digest record beside the container") from None
    if trusted is None:
        try:
            trusted = reader_keys()
        except SeidError as exc:
            raise VerificationError(f"{name}: cannot check its digest record: {exc}") from None
    if text.startswith('{"payload"'):
        return _signed(text.encode(), name, trusted)
    if trusted:
        raise VerificationError(
            f"{name}: digest record is not signed by a trusted key "
            f"({len(trusted)} trusted; unsigned records are refused)"
        )
    return _unsigned(text, name)


def _signed(entry: bytes, name: str, trusted: dict[str, Key]) -> Record:
    """The record inside a signed envelope (its signature checked when keys are trusted)."""
    from seid import evidence

    try:
        checked = evidence.verify(entry, trusted).statement if trusted else None
        statement = checked or evidence.decode(entry)
    except VerificationError as exc:
        raise VerificationError(f"{name}: digest record refused: {exc}") from None
    predicate = statement.get("predicate")
    if statement["predicateType"] != PREDICATE or not isinstance(predicate, dict):
        raise VerificationError(f"{name}: digest record refused: not a seid artifact record")
    record = _from_doc(predicate, name)
    subject = statement["subject"][0]
    if subject != evidence.Subject(record.path or "", record.sha256).to_dict():
        raise VerificationError(f"{name}: digest record refused: subject and record disagree")
    return record


def _unsigned(text: str, name: str) -> Record:
    if _HEX.fullmatch(text):
        return Record(text)  # seid before 2026-12: the content alone
    try:
        doc = json.loads(text)
    except ValueError:
        raise VerificationError(f"{name}: unreadable digest record beside the container") from None
    return _from_doc(doc, name)


def _from_doc(doc: Any, name: str) -> Record:
    try:
        record = Record(doc["sha256"], doc["size"], doc["path"], doc["run"])
    except (KeyError, TypeError):
        raise VerificationError(f"{name}: unreadable digest record beside the container") from None
    fields = ((record.size, int), (record.path, str), (record.run, str))
    if (
        not isinstance(record.sha256, str)
        or not _HEX.fullmatch(record.sha256)
        or not all(value is None or isinstance(value, kind) for value, kind in fields)
    ):
        raise VerificationError(f"{name}: unreadable digest record beside the container")
    return record
