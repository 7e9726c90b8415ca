"""A directory of containers with digest records: the on-disk form of a ``seid://`` store.

A container is self-consistent, so one artifact's container copied over another's
would still decode cleanly. What binds a container to its place is a digest record
beside it: for ``dir/name`` the file ``dir/.name.seid-digest``, one line of JSON,
``{"path": P, "run": R, "sha256": H, "size": N}``, written when the artifact is stored.
``P`` is the artifact's path below the store's root as the writer saw it and ``R`` the
MLflow run whose artifacts it is (or null), so a container copied to another name or
another run *together with* its record is refused as the container of another artifact:
the record names a place the file is not at. A reader checks the record against the
place, the container's header against the record, then decodes and hashes as usual.
Records of earlier seid versions (one line of hex) bind the content only. When the
writing host has a signing key the record is signed, and a reader that sets
``SEID_TRUST_DIR`` refuses a record none of its keys signed
(:mod:`seid.container.records`). Temporary files (``.seid-part.*``) and digest records
are not artifacts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qs, quote, unquote, urlparse

from seid.container.choice import Level, level_from_env, parse_level
from seid.container.core import TEMP_PREFIX, Header, decode, read_header
from seid.container.records import DIGEST_SUFFIX, Record, read_record
from seid.errors import SeidError, VerificationError

SCHEME = "seid"


def path_of(uri: str) -> Path:
    """The directory of a ``seid:///abs/path`` URI (also ``seid:/abs`` as MLflow joins
    run paths onto it, and ``seid://localhost/abs``); ValueError for anything else.
    The one query a store URI takes is ``?level=balanced|max`` (:func:`level_of`)."""
    parsed = urlparse(uri)
    path = unquote(parsed.path)
    if (
        parsed.scheme != SCHEME
        or parsed.netloc not in ("", "localhost")
        or not os.path.isabs(path)
        or parsed.fragment
    ):
        raise ValueError(f"not a local seid:///absolute/path URI: {uri}")
    level_of(uri)
    return Path(os.path.normpath(path))


def level_of(uri: str) -> Level:
    """The packing level a store URI asks for, else ``SEID_ARTIFACT_LEVEL``'s, else
    balanced."""
    query = parse_qs(urlparse(uri).query, keep_blank_values=True)
    if not query:
        return level_from_env()
    if set(query) != {"level"} or len(query["level"]) != 1:
        raise ValueError(f"{uri}: a seid:// URI takes one query, ?level=balanced|max")
    try:
        return parse_level(query["level"][0], uri)
    except SeidError as exc:
        raise ValueError(str(exc)) from None


def uri_of(path: Path) -> str:
    """The ``seid:///abs/path`` URI of a store directory or an artifact in it."""
    return f"{SCHEME}://{quote(path.resolve().as_posix())}"


def is_reserved(name: str) -> bool:
    """Names the store uses for itself: never listed, never accepted as artifacts."""
    return name.startswith(TEMP_PREFIX) or (name.startswith(".") and name.endswith(DIGEST_SUFFIX))


def check_place(artifact: Path, record: Record, name: str) -> None:
    """Refuse a record that names another place than ``artifact``'s: the container and
    record were copied there from another artifact (or another run)."""
    if record.path is None:
        return
    want = [*([record.run, "artifacts"] if record.run else []), *record.path.split("/")]
    have = artifact.parts[-len(want) :] if len(want) <= len(artifact.parts) else ()
    if list(have) != want:
        raise VerificationError(
            f"{name}: container of another artifact (its record names {record.place()})"
        )


def stored_digest(artifact: Path, name: str) -> str:
    """The SHA-256 of the original, once record, place and header agree (no decode)."""
    record = read_record(artifact, name)
    check_place(artifact, record, name)
    with open(artifact, "rb") as raw:
        header = read_header(raw, name)
    if header.hexdigest != record.sha256 or record.size not in (None, header.size):
        raise VerificationError(
            f"{name}: container of another artifact "
            f"(sha256 {header.hexdigest}, recorded {record.sha256})"
        )
    return record.sha256


def decode_recorded(artifact: Path, name: str, sink: BinaryIO | None) -> Header:
    """Decode ``artifact`` into ``sink`` (or nowhere) if it is the artifact recorded there."""
    stored_digest(artifact, name)
    with open(artifact, "rb") as raw:
        return decode(raw, name, sink.write if sink is not None else lambda _: None)


def iter_artifacts(root: Path) -> Iterator[Path]:
    """Every stored artifact under ``root``, in a stable order."""
    for here, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if not is_reserved(name):
                yield Path(here, name)
