"""A directory of containers with digest records: the on-disk form of a ``seid://`` store.

A container is self-consistent, so one artifact's container copied over another's
would still decode cleanly. What binds a container to its name is a digest record
beside it: for ``dir/name`` the file ``dir/.name.seid-digest``, one line holding the
original's lowercase hex SHA-256, written when the artifact is stored. A reader checks
the container's header against the record, then decodes and hashes as usual. Temporary
files (``.seid-part.*``) and digest records are not artifacts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote, urlparse

from seid.container.core import TEMP_PREFIX, Header, atomic_output, decode, read_header
from seid.errors import VerificationError

DIGEST_SUFFIX = ".seid-digest"
SCHEME = "seid"


def path_of(uri: str) -> Path:
    """The directory of a ``seid:///abs/path`` URI (also ``seid:/abs`` as MLflow joins
    run paths onto it, and ``seid://localhost/abs``); ValueError for anything else."""
    parsed = urlparse(uri)
    path = unquote(parsed.path)
    if (
        parsed.scheme != SCHEME
        or parsed.netloc not in ("", "localhost")
        or not os.path.isabs(path)
        or parsed.query
        or parsed.fragment
    ):
        raise ValueError(f"not a local seid:///absolute/path URI: {uri}")
    return Path(os.path.normpath(path))


def uri_of(path: Path) -> str:
    """The ``seid:///abs/path`` URI of a store directory or an artifact in it."""
    return f"{SCHEME}://{quote(path.resolve().as_posix())}"


def digest_path(artifact: Path) -> Path:
    return artifact.with_name(f".{artifact.name}{DIGEST_SUFFIX}")


def is_reserved(name: str) -> bool:
    """Names the store uses for itself: never listed, never accepted as artifacts."""
    return name.startswith(TEMP_PREFIX) or (name.startswith(".") and name.endswith(DIGEST_SUFFIX))


def write_record(artifact: Path, header: Header) -> None:
    with atomic_output(digest_path(artifact)) as out:
        out.write(f"{header.hexdigest}\n".encode())


def recorded_digest(artifact: Path, name: str) -> str:
    """The digest recorded for ``artifact``; a missing or unreadable record is a finding."""
    try:
        return digest_path(artifact).read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        raise VerificationError(f"{name}: no valid digest record beside the container") from None


def stored_digest(artifact: Path, name: str) -> str:
    """The SHA-256 of the original, once the header agrees with the record (no decode)."""
    expected = recorded_digest(artifact, name)
    with open(artifact, "rb") as raw:
        header = read_header(raw, name)
    if header.hexdigest != expected:
        raise VerificationError(
            f"{name}: the container holds a different artifact "
            f"(sha256 {header.hexdigest}, recorded {expected})"
        )
    return expected


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
