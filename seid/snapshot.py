"""The snapshot: SHA-256 of every watched input, sorted into the drift classes A, B, C.

Globs are repo-relative POSIX patterns: ``*`` and ``?`` stay within one path segment,
``**`` spans any number of segments, and a pattern that names a directory covers every
file below it. Walks never enter ``.git/``, ``.sei/`` or ``.dvc/`` (DVC's own cache, locks
and temp files: a ``**/*.dvc`` data glob must not match its directory). Symbolic links
are followed only while they stay inside the repository; a link leading out is skipped
and reported in :attr:`Snapshot.skipped`, never hashed.

When a path matches the globs of several classes it belongs to the first of
:data:`PRECEDENCE`: A, then C, then B. A wins because a criteria change must never be
hidden behind a treatment or data change: replay finds "criteria moved after a failing
verdict" only through class A, and the manifest and claims are not pipeline inputs, so
nothing is lost by not re-running on them. C wins over B because everything downstream of
the data includes everything downstream of the treatment: the wider recomputation is the
safe one.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat as statmod
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, cast

from seid import git
from seid.errors import InputError, SeidError
from seid.statcache import ReadHook, StatCache

DriftClass = Literal["A", "B", "C"]
PRECEDENCE: tuple[DriftClass, ...] = ("A", "C", "B")
CLASS_NAMES: dict[DriftClass, str] = {"A": "criteria", "B": "model", "C": "data"}
PRUNED = frozenset({".git", ".sei", ".dvc"})  # top-level names only (see _pruned)
LOCK_FILE = "dvc.lock"
_META = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Snapshot:
    """What the watched inputs are now: the value a run stands on and a bundle records."""

    commit: str | None
    dirty: bool
    lock_digest: str | None
    inputs: Mapping[DriftClass, Mapping[str, str]]
    skipped: tuple[str, ...] = ()
    branch: str | None = None
    # What git ignores (directories end in "/"): not recorded, only for a HEAD baseline.
    ignored: frozenset[str] = frozenset()
    # Table versions a run is pinned to, as the pipeline's environment (seid.tables.pin).
    pins: Mapping[str, str] = field(default_factory=dict)

    def to_predicate(self) -> dict[str, dict[str, str]]:
        """``{"A": {path: sha256}, "B": ..., "C": ...}`` as the evidence bundle carries it."""
        return {c: dict(sorted(self.inputs.get(c, {}).items())) for c in ("A", "B", "C")}


def _glob_regex(pattern: str) -> str:
    """Translate one glob to a regex matching the path or any file below it."""
    segments = pattern.split("/")
    out: list[str] = []
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "**":
            out.append(".*" if last else "(?:.*/)?")  # paths are normalised: no empty segments
        else:
            out.append(_segment_regex(seg) + ("" if last else "/"))
    return "".join(out) + "(?:/.*)?"


def _segment_regex(seg: str) -> str:
    """``*``, ``?`` and ``[...]``/``[!...]`` within one path segment; the rest literal."""
    part = ""
    i = 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            part += "[^/]*"
        elif c == "?":
            part += "[^/]"
        elif c == "[" and (end := seg.find("]", i + 2)) != -1:
            body = seg[i + 1 : end]
            neg = body.startswith("!")
            body = re.sub(r"([\\\]^])", r"\\\1", body[1:] if neg else body)
            part += f"[{'^' if neg else ''}{body}]"
            i = end
        else:
            part += re.escape(c)
        i += 1
    return part


def _check_pattern(pattern: str) -> str:
    norm = pattern.strip().rstrip("/")
    if norm.startswith("./"):
        norm = norm[2:]
    if not norm or norm.startswith("/") or ".." in norm.split("/") or "\\" in norm:
        raise InputError("sei.yaml", f"inputs: {pattern!r} is not a path inside the repository")
    return norm


class Matcher:
    """Which class, if any, a repo-relative path belongs to."""

    def __init__(self, globs: Mapping[DriftClass, Sequence[str]]) -> None:
        # One regex, one named group per class in precedence order: the first alternative
        # that matches wins, which is the precedence, in a single pass over the path.
        groups: list[str] = []
        bases: set[str] = set()
        normal: list[list[str]] = []
        for cls in PRECEDENCE:
            patterns = [_check_pattern(p) for p in globs.get(cls, ())]
            normal.append(patterns)
            if patterns:
                groups.append(f"(?P<{cls}>{'|'.join(_glob_regex(p) for p in patterns)})")
                bases.update(_base(p) for p in patterns)
        self._regex = re.compile("|".join(groups) or "(?!)", re.DOTALL)
        # Identifies the watch list, for results derived from it and cached (seid.drift).
        self.key = hashlib.sha256(repr(normal).encode()).hexdigest()
        self.bases = _outermost(bases)
        self._memo: dict[str, DriftClass | None] = {}

    def classify(self, rel: str) -> DriftClass | None:
        """The class of ``rel`` (memoised: a walk, a snapshot and a comparison all ask)."""
        try:
            return self._memo[rel]
        except KeyError:
            pass
        match = None if _pruned(rel) else self._regex.fullmatch(rel)
        found = cast("DriftClass | None", match.lastgroup if match else None)
        self._memo[rel] = found
        return found


def _base(pattern: str) -> str:
    """The literal directory part of a glob: where a walk for it must start."""
    literal: list[str] = []
    for seg in pattern.split("/"):
        if _META.search(seg):
            break
        literal.append(seg)
    return "/".join(literal)


def _outermost(bases: Iterable[str]) -> tuple[str, ...]:
    kept: list[str] = []
    for b in sorted(bases, key=lambda s: (s.count("/"), s)):
        if "" in kept or any(b == k or b.startswith(k + "/") for k in kept):
            continue
        kept.append(b)
    return tuple(sorted(kept))


def _pruned(rel: str) -> bool:
    """Inside a directory walks never enter (all of them sit at the repo root)."""
    return rel.partition("/")[0] in PRUNED


class _Walk:
    """Collect ``rel -> stat`` of the regular files under the matcher's bases."""

    def __init__(self, root: Path, matcher: Matcher) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.matcher = matcher
        self.files: dict[str, os.stat_result] = {}
        self.classes: dict[str, DriftClass] = {}
        self.skipped: list[str] = []
        self._seen_dirs: set[str] = set()

    def run(self) -> None:
        for base in self.matcher.bases:
            # A base below a linked directory must not lead the walk out of the repo.
            parent = os.path.dirname(os.path.join(self.root, base))
            if base and not self._inside(os.path.realpath(parent)):
                self.skipped.append(f"{base}: symbolic link leads outside the repository")
                continue
            self._visit(base)

    def _inside(self, real: str) -> bool:
        if not (real == self.real_root or real.startswith(self.real_root + os.sep)):
            return False
        return not _pruned(os.path.relpath(real, self.real_root).replace(os.sep, "/"))

    def _visit(self, rel: str) -> None:
        if rel and _pruned(rel):
            return
        path = os.path.join(self.root, rel) if rel else str(self.root)
        try:
            lst = os.lstat(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise InputError(rel, f"cannot read watched input: {exc.strerror}") from None
        if statmod.S_ISLNK(lst.st_mode):
            real = os.path.realpath(path)
            if not self._inside(real):
                if self.matcher.classify(rel) is not None:
                    self.skipped.append(f"{rel}: symbolic link leads outside the repository")
                return
            try:
                st = os.stat(path)
            except OSError as exc:
                msg = exc.strerror or "broken symbolic link"
                raise InputError(rel, f"cannot read watched input: {msg}") from None
        else:
            st, real = lst, path
        if statmod.S_ISDIR(st.st_mode):
            self._directory(rel, path, os.path.realpath(real))
        elif statmod.S_ISREG(st.st_mode):
            cls = self.matcher.classify(rel)
            if cls is not None:
                self.files[rel], self.classes[rel] = st, cls
        elif self.matcher.classify(rel) is not None:
            self.skipped.append(f"{rel}: not a regular file")

    def _directory(self, rel: str, path: str, real: str) -> None:
        if real in self._seen_dirs:
            return
        self._seen_dirs.add(real)
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            raise InputError(rel or ".", f"cannot list watched directory: {exc.strerror}") from None
        classify = self.matcher.classify
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            # d_type answers these without a syscall; only matching files are stat'ed.
            if entry.is_symlink() or entry.is_dir(follow_symlinks=False):
                self._visit(child)
            elif (cls := classify(child)) is None:
                continue
            elif entry.is_file(follow_symlinks=False):
                self.files[child] = entry.stat(follow_symlinks=False)
                self.classes[child] = cls
            else:
                self.skipped.append(f"{child}: not a regular file")


@dataclass(frozen=True)
class GitState:
    commit: str | None
    branch: str | None
    dirty: bool
    ignored: frozenset[str] = frozenset()


_GIT_STATUS = (
    "--no-optional-locks",
    "status",
    "--porcelain=v2",
    "--branch",
    "-z",
    "--untracked-files=normal",
    "--ignored=traditional",
)


def git_state(root: Path) -> GitState:
    """HEAD commit, branch, dirty flag and what git ignores, all from one ``git status``.

    Dirty means tracked files differ from HEAD (as ``git describe --dirty``); untracked
    files are not dirt but drift. Ignored paths come collapsed (``data/`` for a whole
    ignored directory), which is what a comparison with HEAD needs (see seid.drift).
    """
    return _git_state_of(root, _start_git_status(root))


def _start_git_status(root: Path) -> subprocess.Popen[bytes]:
    """``git status`` started now, so it runs while the walk stats the inputs."""
    return git.start(root, *_GIT_STATUS, stderr=subprocess.PIPE)


def _git_state_of(root: Path, proc: subprocess.Popen[bytes]) -> GitState:
    try:
        stdout = git.finish(proc, "status")
    except git.GitError as err:
        raise SeidError(f"{root}: {err}") from None
    commit = branch = None
    dirty = False
    ignored: set[str] = set()
    records = iter(stdout.split(b"\0"))
    for rec in records:
        if rec.startswith(b"# branch.oid "):
            oid = rec[13:].decode()
            commit = None if oid == "(initial)" else oid
        elif rec.startswith(b"# branch.head "):
            head = rec[14:].decode()
            branch = None if head == "(detached)" else head
        elif rec.startswith(b"! "):
            ignored.add(rec[2:].decode())
        elif rec.startswith((b"1 ", b"2 ", b"u ")):
            dirty = True
            if rec.startswith(b"2 "):
                next(records, None)  # a rename's original path: its own record
    return GitState(commit, branch, dirty, frozenset(ignored))


@dataclass
class SnapshotOptions:
    """Knobs for :func:`take_snapshot`; ``hook`` is test-only (see ``statcache.ReadHook``)."""

    hook: ReadHook | None = None
    workers: int | None = None


def take_snapshot(
    root: Path,
    watch: Matcher | Mapping[DriftClass, Sequence[str]],
    cache: StatCache,
    options: SnapshotOptions | None = None,
) -> Snapshot:
    """Digest every watched input of ``root`` (absolute repo root) by class."""
    opts = options or SnapshotOptions()
    matcher = watch if isinstance(watch, Matcher) else Matcher(watch)
    status = _start_git_status(root)
    try:
        walk = _Walk(root, matcher)
        walk.run()
        files = dict(walk.files)
        lock = root / LOCK_FILE
        if LOCK_FILE not in files and lock.is_file():
            files[LOCK_FILE] = lock.stat()
        digests = cache.digests(root, files, hook=opts.hook, workers=opts.workers)
    except BaseException:
        status.kill()
        status.communicate()
        raise
    inputs: dict[DriftClass, dict[str, str]] = {"A": {}, "B": {}, "C": {}}
    for rel, cls in sorted(walk.classes.items()):
        inputs[cls][rel] = digests[rel]
    git = _git_state_of(root, status)
    return Snapshot(
        commit=git.commit,
        dirty=git.dirty,
        lock_digest=digests.get(LOCK_FILE),
        inputs=inputs,
        skipped=tuple(walk.skipped),
        branch=git.branch,
        ignored=git.ignored,
    )


class InputSections(Protocol):
    """The manifest's ``inputs`` (seid.config.InputClasses), as this module reads them."""

    @property
    def criteria(self) -> Sequence[str]: ...
    @property
    def treatment(self) -> Sequence[str]: ...
    @property
    def data(self) -> Sequence[str]: ...


class HasInputs(Protocol):
    def resolved_inputs(self, root: Path) -> InputSections: ...


def class_globs(inputs: InputSections) -> dict[DriftClass, list[str]]:
    """The ``inputs`` sections keyed by drift class."""
    return {"A": list(inputs.criteria), "B": list(inputs.treatment), "C": list(inputs.data)}


def watched_globs(root: Path, manifest: HasInputs) -> dict[DriftClass, list[str]]:
    """What seid watches in the work tree at ``root``, by drift class: the one answer
    for ``run``, ``status`` and the daemon."""
    return class_globs(manifest.resolved_inputs(root))
