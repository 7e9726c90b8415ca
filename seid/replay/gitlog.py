"""Git plumbing for replay: the streaming ``git log`` parser and a ``cat-file`` reader.

``git log -z --raw`` output is split on NUL in large blocks and parsed positionally, so
no path or commit message can be mistaken for structure and nothing is read whole.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from seid import git
from seid.errors import SeidError

_CHUNK = 1 << 20
FORMAT = "%x01%H%x00%P%x00%aN%x00%aE%x00%cI%x00%s"
_HEADER_FIELDS = 5  # after the hash: parents, author, email, date, subject


@dataclass(frozen=True)
class Change:
    path: str
    status: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class RawCommit:
    sha: str
    parents: tuple[str, ...]
    author: str
    email: str
    date: str
    subject: str
    changes: tuple[Change, ...]


def log_argv(since: str | None, until: str | None) -> list[str]:
    """The one ``git log`` of a replay (its arguments): oldest first, raw diffs against
    the first parent."""
    for rev in (since, until):
        if rev is not None and (not rev or rev.startswith("-") or "\n" in rev):
            raise SeidError(f"bad revision {rev!r}")
    revs = [f"{since}..{until or 'HEAD'}"] if since else [until or "HEAD"]
    return [
        "-c",
        "log.showSignature=false",
        "log",
        "--reverse",
        "--topo-order",
        "--raw",
        "-z",
        "--no-renames",
        "--no-abbrev",
        "--no-color",
        "--diff-merges=first-parent",
        "--encoding=UTF-8",
        f"--format={FORMAT}",
        "--end-of-options",
        *revs,
        "--",
    ]


_POLL = 0.001  # seconds between looks at a log file git is still writing


class LogProcess:
    """``git log`` started early, writing into an unlinked temporary file, so git walks
    the history while the caller does other work (loading modules, forking a helper: no
    thread of ours is involved). The reader follows the file as it grows. The file, in
    ``$TMPDIR``, holds the whole output until the walk ends: a few hundred bytes a commit
    (2.4 MB for 10,000 commits), on disk rather than in this process's memory."""

    def __init__(self, root: Path, since: str | None = None, until: str | None = None) -> None:
        argv = log_argv(since, until)
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        try:
            self._proc = git.start(root, *argv, stdout=self._out, stderr=self._errors)
        except git.GitError:
            self._out.close()
            self._errors.close()
            raise

    def chunks(self) -> Iterator[bytes]:
        """The output in blocks, in order, as git writes it; ends when git has exited."""
        offset = 0  # pread: git's writes move the file offset it shares with us
        while True:
            done = self._proc.poll() is not None  # before reading: nothing comes after exit
            chunk = os.pread(self._out.fileno(), _CHUNK, offset)
            if chunk:
                offset += len(chunk)
                yield chunk
            elif done:
                return
            else:
                time.sleep(_POLL)

    def finish(self) -> tuple[int, str]:
        """Exit status and standard error, once the output has been read."""
        code = self._proc.wait()
        self._errors.seek(0)
        return code, self._errors.read().decode(errors="replace")

    def close(self) -> None:
        """Stop git, whether or not the output was read, and drop its files."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._out.close()
        self._errors.close()

    def __enter__(self) -> LogProcess:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def tokens(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """NUL-separated tokens of a stream of blocks, never the whole output at once."""
    rest = b""
    for chunk in chunks:
        parts = (rest + chunk).split(b"\0")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def parse_log(stream: Iterator[bytes]) -> Iterator[RawCommit]:
    """Commits from ``git log -z --raw --format=<FORMAT>`` tokens.

    Positional: a header is ``\\x01hash`` and five fields; each raw line is a ``:meta``
    token followed by one path token (``--no-renames``: never two paths).
    """
    token = next(stream, None)
    while token is not None:
        if not token.startswith(b"\x01"):
            token = next(stream, None)  # the newline git puts before the raw block
            continue
        fields = [token[1:].decode()]
        fields += [next(stream, b"").decode("utf-8", "replace") for _ in range(_HEADER_FIELDS)]
        changes: list[Change] = []
        token = next(stream, None)
        while token is not None and token.lstrip(b"\n").startswith(b":"):
            path = next(stream, b"").decode("utf-8", "backslashreplace")
            changes.append(_change(token.lstrip(b"\n").decode(), path))
            token = next(stream, None)
        sha, parents, author, email, date, subject = fields
        yield RawCommit(sha, tuple(parents.split()), author, email, date, subject, tuple(changes))


def _change(meta: str, path: str) -> Change:
    """``:old_mode new_mode old_oid new_oid status`` (``--no-renames``: one path)."""
    parts = meta.lstrip(":").split(" ")
    if len(parts) < 5:
        return Change(path, "M", None, None)
    old, new = parts[2], parts[3]
    return Change(
        path, parts[4][:1], old if old.strip("0") else None, new if new.strip("0") else None
    )


def tags(root: Path) -> dict[str, list[str]]:
    """Tag names by the commit they point at (annotated tags peeled): releases."""
    found = git.probe(
        root, "for-each-ref", "--format=%(objectname) %(*objectname) %(refname:short)", "refs/tags"
    )
    out: dict[str, list[str]] = {}
    for line in (found or "").splitlines():
        target, peeled, name = line.split(" ", 2)
        out.setdefault(peeled or target, []).append(name)
    return out


def repo_info(root: Path) -> tuple[Path, bool]:
    found = git.probe(root, "rev-parse", "--absolute-git-dir", "--is-shallow-repository")
    lines = (found or "").split()
    if len(lines) != 2:
        raise SeidError(f"{root} is not a git repository")
    return Path(lines[0]), lines[1] == "true"


def shallow_cut(git_dir: Path) -> list[str]:
    try:
        return (git_dir / "shallow").read_text().split()
    except OSError:
        return []
