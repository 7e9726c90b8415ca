"""Writing files so that a reader never sees half of one; reading only regular files.

Every file seid writes for others to read (plans, sidecars, trusted keys, reports,
artifact containers) goes through :func:`atomic_output` (or :func:`write_atomic`, its
one-shot form): a temp file beside the target, fsynced, then renamed over it, or linked
into place when an existing file must not be clobbered. A crash leaves the old file or
the new one, never a torn mix; a failure leaves no temp file behind. What seid reads
from a repository (manifests, metrics, keys, inputs) is opened by :func:`open_regular`,
which refuses a FIFO or a device instead of blocking on it.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Literal, overload

from seid.errors import InputError, SeidError


def shown_path(path: Path) -> str:
    """The path as the user would type it here: relative to the working directory when
    it lies inside it, else as given (a ``../`` walk out of it would depend on where the
    command ran, and a daemon's log is read from elsewhere)."""
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd()) else str(path)
    except (OSError, ValueError):
        return str(path)


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


# Where seid keeps what it writes in a repository: the one set of these paths.
SEI_DIR = ".sei"
LEDGER_DIR = Path(SEI_DIR) / "ledger"  # <log-id>/{log,head,index,tree/,lock}
TRUST_DIR = Path(SEI_DIR) / "trust"  # <key-id>.pub (and .json holders): committed
CACHE_PATH = Path(SEI_DIR) / "cache" / "stat.sqlite"
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
    """``<root>/.sei/<parts...>``, created, with the ``.gitignore`` that keeps it local.

    Checked before anything is created: a ``.sei`` (or a directory in it) that is a
    symlink leading out of the repository is refused, so no cache, log or ledger file
    is ever written where the repository's owner did not put it.
    """
    base = root / SEI_DIR
    path = base.joinpath(*parts)
    check_inside(root, path, what=f"{SEI_DIR}/")
    path.mkdir(parents=True, exist_ok=True)
    ignore = base / ".gitignore"
    if not ignore.exists():
        with contextlib.suppress(FileExistsError):  # another process was first
            write_atomic(ignore, _SEI_GITIGNORE.encode(), replace=False)
    return path


def check_inside(root: Path, path: Path, *, what: str) -> Path:
    """``path`` with every existing symlink followed, if that stays inside ``root``;
    else a :class:`SeidError` naming where it leads."""
    home = root.resolve()
    real = path.resolve()
    if real != home and not real.is_relative_to(home):
        raise SeidError(
            f"{path}: {what} leads out of the repository (to {real}); refusing to write there"
        )
    return real


_PRIVATE_DIRS = (".git", SEI_DIR)


def repo_output(root: Path, rel: str) -> Path:
    """Where seid may write a file a manifest or config names: ``root/rel`` with its
    symlinks followed, inside the repository and outside ``.git/`` and ``.sei/`` (a plan
    named ``.sei/ledger/<id>/log`` or ``.git/HEAD`` would replace what it names).
    ValueError says why not."""
    home = root.resolve()
    real = (root / rel).resolve()
    if not real.is_relative_to(home) or real == home:
        raise ValueError(f"{rel!r} leads out of the repository (to {real})")
    first = real.relative_to(home).parts[0]
    if first in _PRIVATE_DIRS:
        raise ValueError(f"{rel!r} is inside {first}/, which seid never writes for a manifest")
    return real


_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
}


@overload
def open_regular(
    path: Path, display: str | Path | None = None, *, raw: Literal[False] = False
) -> io.BufferedReader: ...


@overload
def open_regular(
    path: Path, display: str | Path | None = None, *, raw: Literal[True]
) -> io.FileIO: ...


def open_regular(
    path: Path, display: str | Path | None = None, *, raw: bool = False
) -> io.BufferedReader | io.FileIO:
    """Open ``path`` for binary reading only if it is a regular file (symlinks followed).

    The open itself cannot block: a FIFO opened for reading waits for a writer, which
    would hang a run or a verify for good, so it is opened non-blocking, checked on
    the descriptor (no race with a rename), and refused with what it is. ``raw`` gives
    the unbuffered file, for a reader with its own large buffer: a buffered reader's
    ``readinto`` made hashing on two threads no faster than on one.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        kind = stat.S_IFMT(os.fstat(fd).st_mode)
        if kind != stat.S_IFREG:
            what = _KINDS.get(kind, "not a regular file")
            raise InputError(display or path, f"is {what}, not a regular file; refusing to read it")
        os.set_blocking(fd, True)
        return io.FileIO(fd, "rb") if raw else os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
