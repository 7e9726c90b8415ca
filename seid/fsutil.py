"""Writing files so that a reader never sees half of one.

Every file seid writes for others to read (plans, sidecars, trusted keys, reports,
artifact containers) goes through :func:`atomic_output` (or :func:`write_atomic`, its
one-shot form): a temp file beside the target, fsynced, then renamed over it, or linked
into place when an existing file must not be clobbered. A crash leaves the old file or
the new one, never a torn mix; a failure leaves no temp file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_output(
    path: Path, *, mode: int = 0o644, replace: bool = True, prefix: str | None = None
) -> Iterator[BinaryIO]:
    """A temp file beside ``path`` (read-write, seekable) that becomes ``path`` only if
    the block succeeds: flushed, given ``mode``, fsynced, then renamed over ``path``.

    With ``replace=False`` an existing ``path`` is left alone and FileExistsError raised,
    even when it appears while writing (the final step is ``link``, which never clobbers).
    The temp file is named ``<prefix>XXXX.tmp`` (default prefix ``.<name>.``) and is
    removed whatever happens. OSError is the caller's.
    """
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}." if prefix is None else prefix, suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(fd, "w+b") as fh:
            yield fh
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644, replace: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, mode=mode, replace=replace) as fh:
        fh.write(data)


SEI_DIR = ".sei"
# Only the trusted public keys are committed; the ledger, caches and logs are not
# (DESIGN, "Ledger"): the ledger travels by its git ref instead.
_SEI_GITIGNORE = """\
# seid's working state. Only trusted public keys (trust/) are committed; the ledger is
# published to refs/seid/ledger/<log-id> by 'seid ledger publish', not committed.
*
!.gitignore
!trust/
!trust/**
"""


def sei_dir(root: Path, *parts: str) -> Path:
    """``<root>/.sei/<parts...>``, created, with the ``.gitignore`` that keeps it local."""
    base = root / SEI_DIR
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    ignore = base / ".gitignore"
    if not ignore.exists():
        with contextlib.suppress(FileExistsError):  # another process was first
            write_atomic(ignore, _SEI_GITIGNORE.encode(), replace=False)
    return path
