"""All of seid's git, through the ``git`` command line (argument lists, never a shell).

One runner with one error contract: :func:`run` returns git's output or raises
:class:`GitError` naming the command and git's own last line; :func:`probe` is the
same call for questions whose failure is an answer (no commits yet, no such config).
The streaming readers replay needs (``git log`` into a file, ``cat-file --batch``) are
here too, so a newcomer finds every git call by this module's name.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from hashlib import sha256
from pathlib import Path
from typing import IO, BinaryIO, cast

from seid.errors import SeidError
from seid.statcache import CHUNK


class GitError(SeidError):
    """git could not be run, or refused: the command and git's last line."""


def output(
    repo: Path,
    *args: str,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> bytes:
    """git's stdout as bytes; :class:`GitError` when git is missing, hangs or fails."""
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=repo,
            input=stdin,
            capture_output=True,
            env=dict(env) if env is not None else None,
            timeout=timeout,
            check=False,
        )
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror or exc}") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not answer within {timeout:g} s") from None
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {lines[-1] if lines else proc.returncode}")
    return proc.stdout


def start(
    repo: Path,
    *args: str,
    stdin: int | None = None,
    stdout: int | IO[bytes] = subprocess.PIPE,
    stderr: int | IO[bytes] = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """git started without waiting, for output read as it comes (or a command that runs
    while seid does other work); :class:`GitError` when git cannot be run."""
    try:
        return subprocess.Popen(["git", *args], cwd=repo, stdin=stdin, stdout=stdout, stderr=stderr)
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror or exc}") from None


def finish(proc: subprocess.Popen[bytes], what: str) -> bytes:
    """The stdout of a git :func:`start` ed with pipes, once it exits 0; else GitError."""
    out, err = proc.communicate()
    if proc.returncode != 0:
        lines = (err or b"").decode(errors="replace").strip().splitlines()
        raise GitError(f"git {what} failed: {lines[-1] if lines else proc.returncode}")
    return out


def run(
    repo: Path,
    *args: str,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> str:
    """git's stdout as text, stripped; :class:`GitError` when it fails."""
    return output(repo, *args, stdin=stdin, env=env, timeout=timeout).decode().strip()


def probe(repo: Path, *args: str, timeout: float | None = 60) -> str | None:
    """git's stdout, or None when git is missing or says no (the failure is the answer)."""
    try:
        return run(repo, *args, timeout=timeout)
    except GitError:
        return None


def succeeds(repo: Path, *args: str) -> bool:
    """Whether git exits 0 (``merge-base --is-ancestor``, ``cat-file -e``)."""
    return probe(repo, *args) is not None


def config(repo: Path, key: str) -> str | None:
    """A git config value as git resolves it for ``repo``; None when unset."""
    return probe(repo, "config", "--get", key) or None


def head(repo: Path) -> str | None:
    """The commit HEAD names; None before the first commit or outside a repository."""
    return probe(repo, "rev-parse", "--verify", "-q", "HEAD") or None


def toplevel(start: Path) -> Path | None:
    """The top of the git work tree containing ``start``; None outside one."""
    top = probe(start, "rev-parse", "--show-toplevel")
    return Path(top) if top else None


@contextlib.contextmanager
def stream_blob(repo: Path, spec: str) -> Iterator[BinaryIO]:
    """Stream the blob ``spec`` names (``ref:path``), never loaded whole."""
    run(repo, "cat-file", "-e", spec)  # a missing blob is a GitError, not an empty stream
    proc = start(repo, "cat-file", "blob", spec)
    assert proc.stdout is not None
    try:
        yield cast(BinaryIO, proc.stdout)
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()


class BlobReader:
    """One ``git cat-file --batch`` process answering object lookups one at a time."""

    def __init__(self, root: Path) -> None:
        self._proc = start(root, "cat-file", "--batch", stdin=subprocess.PIPE)

    def read(self, name: str) -> bytes | None:
        """The object ``name`` (an id or ``rev:path``); None when git has no such object."""
        found = self.lookup(name)
        return found[1] if found else None

    def lookup(self, name: str) -> tuple[str, bytes] | None:
        """``(object id, contents)`` of ``name``; None when git has no such object."""
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        if "\n" in name:
            return None
        proc.stdin.write(name.encode() + b"\n")
        proc.stdin.flush()
        found = _read_object(proc.stdout, name, keep=True)
        return (found[0], found[2]) if found else None

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc.wait()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def object_ids(repo: Path, names: Sequence[str]) -> dict[str, str | None]:
    """The object id each name (``rev:path``) resolves to, None where git has none: one
    ``git cat-file --batch-check`` for them all, no contents read."""
    if not names:
        return {}
    feed = "".join(f"{name}\n" for name in names).encode()
    lines = run(repo, "cat-file", "--batch-check=%(objectname)", stdin=feed).splitlines()
    return {name: None if " " in line else line for name, line in zip(names, lines, strict=True)}


def cat_blobs(repo: Path, oids: set[str], keep: bool = False) -> dict[str, bytes]:
    """Blob contents through one ``git cat-file --batch``; hashed as they stream by.

    Without ``keep`` the values are SHA-256 digests (raw bytes) rather than contents, so
    a large data file never sits in memory whole.
    """
    if not oids:
        return {}
    order = sorted(oids)
    proc = start(repo, "cat-file", "--batch", stdin=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    feeder = threading.Thread(target=_feed, args=(proc.stdin, order), daemon=True)
    feeder.start()
    out: dict[str, bytes] = {}
    try:
        for oid in order:
            found = _read_object(proc.stdout, oid, keep)
            if found is None or found[1] != "blob":
                raise GitError(f"git cat-file: cannot read blob {oid}")
            out[oid] = found[2]
    finally:
        proc.stdout.close()
        feeder.join()
        proc.wait()
    return out


def _feed(stdin: IO[bytes], oids: Sequence[str]) -> None:
    try:
        stdin.write("".join(f"{oid}\n" for oid in oids).encode())
        stdin.close()
    except BrokenPipeError:
        pass


def _read_object(stdout: IO[bytes], name: str, keep: bool) -> tuple[str, str, bytes] | None:
    """One answer of ``cat-file --batch``: ``(object id, type, contents)``, or its
    SHA-256 instead of the contents without ``keep`` (read in pieces, never whole);
    None when git has no such object."""
    header = stdout.readline().split()
    if len(header) != 3:
        return None  # "<name> missing" or "ambiguous"
    remaining = int(header[2])
    h = sha256()
    parts: list[bytes] = []
    while remaining:
        chunk = stdout.read(min(CHUNK, remaining))
        if not chunk:
            raise GitError(f"git cat-file: object {name} cut short")
        remaining -= len(chunk)
        if keep:
            parts.append(chunk)
        else:
            h.update(chunk)
    stdout.read(1)
    return header[0].decode(), header[1].decode(), b"".join(parts) if keep else h.digest()
