"""Writing files so that a reader never sees half of one.

Every file seid writes for others to read (plans, sidecars, trusted keys, reports,
artifact containers) goes through :func:`write_atomic`: a temp file beside the target,
fsynced, then renamed over it, or linked into place when an existing file must not be
clobbered. A crash leaves the old file or the new one, never a torn mix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644, replace: bool = True) -> None:
    """Write ``data`` to ``path`` atomically; OSError (FileExistsError) is the caller's.

    With ``replace=False`` an existing ``path`` is left alone and FileExistsError raised,
    even when it appears while writing (the final step is ``link``, which never clobbers).
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


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
