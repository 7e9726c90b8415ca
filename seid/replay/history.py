"""The history walk: every commit once, its changed paths sorted into drift classes.

One ``git log --raw -z`` process streams the whole history (oldest first, parents before
children); nothing is asked of git per commit. The manifest in force at a commit is the
one in that commit's tree: its blob id is carried from the first parent and updated
from the raw diff, and the text is read (through one long-lived ``git cat-file
--batch``) only when a blob id is seen for the first time. Merges are diffed against
their first parent, so the manifest they leave in force is exact; their changes are the
side branch's, already counted at the commits that made them.

Nothing in a history makes the walk fail: a deleted or invalid manifest, commits before
the first ``sei.yaml``, a shallow clone's cut are recorded as :class:`Note` for the report.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from seid.claims import load_claim
from seid.config import MANIFEST_NAMES, InputClasses, Manifest, Pipeline, load_manifest_text
from seid.config.inputs import CLAIM_GLOBS, default_inputs, merge_inputs
from seid.errors import SeidError
from seid.git import BlobReader
from seid.replay.gitlog import (
    Change,
    LogProcess,
    RawCommit,
    parse_log,
    repo_info,
    shallow_cut,
    tags,
    tokens,
)
from seid.snapshot import DriftClass, Matcher, class_globs

__all__ = ["BlobReader", "ClaimVersion", "Commit", "History", "Note", "Regime", "walk"]

DVC_FILE = "dvc.yaml"
_TRACKED = (*MANIFEST_NAMES, DVC_FILE)

Source = Literal["manifest", "inferred", "none"]


@dataclass(frozen=True)
class Note:
    """Something about the history a reader must know, e.g. a shallow clone's cut."""

    kind: str
    commit: str | None
    message: str


@dataclass(frozen=True)
class Regime:
    """The manifest in force over a stretch of history, and the classes it defines."""

    index: int
    commit: str
    source: Source
    manifest: Manifest | None
    matcher: Matcher | None
    claims: Matcher | None
    error: str | None = None


@dataclass(frozen=True)
class ClaimVersion:
    """One committed version of a PRML claim file."""

    commit: str
    path: str
    claim_id: str | None
    hash: str | None
    prior_hash: str | None
    previous_hash: str | None
    error: str | None = None


@dataclass(slots=True)
class Commit:
    """One commit as replay needs it: who, when, and what it changed by class."""

    sha: str
    parents: tuple[str, ...]
    author: str
    email: str
    date: str
    subject: str
    regime: int = 0
    classes: dict[DriftClass, list[str]] = field(default_factory=dict)
    changed: int = 0
    blobs: dict[str, str] = field(default_factory=dict)  # B/C path -> new blob id

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


@dataclass
class History:
    """The walked commits (oldest first), the manifests in force, claims and notes."""

    commits: list[Commit] = field(default_factory=list)
    regimes: list[Regime] = field(default_factory=list)
    claims: list[ClaimVersion] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    shallow: bool = False
    tags: dict[str, list[str]] = field(default_factory=dict)

    def regime_of(self, commit: Commit) -> Regime:
        return self.regimes[commit.regime]


class _Tree:
    """The blob ids of the files that decide the classes, as of one commit (shared by
    every commit that does not change them)."""

    __slots__ = ("blobs", "regime")

    def __init__(self, blobs: dict[str, str] | None = None) -> None:
        self.blobs: dict[str, str] = blobs or {}
        self.regime: int | None = None  # the regime it maps to, once known

    def get(self, path: str) -> str | None:
        return self.blobs.get(path)

    def updated(self, changes: tuple[Change, ...]) -> _Tree:
        touched = {c.path: c.new for c in changes if c.path in _TRACKED}
        if not touched:
            return self
        merged = {**self.blobs, **touched}
        return _Tree({p: b for p, b in merged.items() if b})


class _Regimes:
    """Builds and caches a :class:`Regime` per distinct (manifest, dvc.yaml) pair."""

    def __init__(self, blobs: BlobReader, history: History, infer: bool) -> None:
        self.blobs, self.history, self.infer = blobs, history, infer
        self._by_key: dict[tuple[str | None, str | None, str | None], int] = {}
        self._manifests: dict[str, Manifest | str] = {}
        self._last_good: Regime | None = None

    def at(self, tree: _Tree, commit: str) -> int:
        name = next((n for n in MANIFEST_NAMES if tree.get(n)), None)
        blob = tree.get(name) if name else None
        parsed = self._manifest(name, blob) if name and blob else None
        dvc = tree.get(DVC_FILE) if self._uses_dvc(parsed) else None
        key = (name, blob, dvc)
        if key not in self._by_key:
            self._by_key[key] = self._new(commit, parsed, dvc)
        return self._by_key[key]

    def _uses_dvc(self, parsed: Manifest | str | None) -> bool:
        if isinstance(parsed, Manifest):
            return parsed.inputs is None and parsed.pipeline.tool == "dvc"
        return parsed is None and self.infer

    def _manifest(self, name: str, blob: str) -> Manifest | str:
        if blob not in self._manifests:
            data = self.blobs.read(blob)
            try:
                if data is None:
                    raise SeidError(f"{name}: blob {blob} is not in this clone")
                text = data.decode("utf-8")
                self._manifests[blob] = load_manifest_text(text, name)
            except UnicodeDecodeError:
                self._manifests[blob] = f"{name}: not UTF-8"
            except (SeidError, ValueError) as err:
                self._manifests[blob] = str(err)
        return self._manifests[blob]

    def _new(self, commit: str, parsed: Manifest | str | None, dvc: str | None) -> int:
        index = len(self.history.regimes)
        try:
            regime = self._build(index, commit, parsed, dvc)
        except (SeidError, ValueError) as err:
            regime = self._fallback(index, commit, str(err))
        if regime.error is None and regime.source != "none":
            self._last_good = regime
        self.history.regimes.append(regime)
        return index

    def _build(
        self, index: int, commit: str, parsed: Manifest | str | None, dvc: str | None
    ) -> Regime:
        if isinstance(parsed, str):
            self.history.notes.append(Note("manifest-invalid", commit, parsed))
            return self._fallback(index, commit, parsed)
        if parsed is None and not self.infer:
            return Regime(index, commit, "none", None, None, None)
        pipeline = parsed.pipeline if parsed else Pipeline(tool="dvc")
        inputs = parsed.inputs if parsed and parsed.inputs else self._derived(pipeline, dvc)
        if parsed is None:  # --infer: DVC's own files say what is data, even before
            inputs = merge_inputs(inputs, criteria=[])  # dvc.yaml (a `dvc add` pointer)
            return Regime(index, commit, "inferred", None, _matcher(inputs), _claims([]))
        inputs = merge_inputs(inputs, criteria=[parsed.path.name, *parsed.claims])
        claims = _claims(parsed.claims)
        return Regime(index, commit, "manifest", parsed, _matcher(inputs), claims)

    def _derived(self, pipeline: Pipeline, dvc: str | None) -> InputClasses:
        """The tool's default inputs, reading this commit's dvc.yaml from a scratch dir."""
        with tempfile.TemporaryDirectory(prefix="seid-replay-") as scratch:
            data = self.blobs.read(dvc) if dvc else None
            if data is not None:
                (Path(scratch) / DVC_FILE).write_bytes(data)
            return default_inputs(Path(scratch), pipeline)

    def _fallback(self, index: int, commit: str, error: str) -> Regime:
        """An unusable manifest: keep classifying by the last usable one, and say so."""
        good = self._last_good
        if good is None:
            return Regime(index, commit, "none", None, None, None, error)
        return Regime(index, commit, good.source, good.manifest, good.matcher, good.claims, error)


def _matcher(inputs: InputClasses) -> Matcher:
    return Matcher(class_globs(inputs))


def _claims(globs: list[str]) -> Matcher:
    return Matcher({"A": [*globs, *CLAIM_GLOBS]})


@dataclass(frozen=True)
class WalkOptions:
    since: str | None = None
    until: str | None = None
    infer: bool = False
    on_commit: Callable[[Commit], None] | None = None


def walk(root: Path, options: WalkOptions | None = None, log: LogProcess | None = None) -> History:
    """Walk the history of the repository at ``root`` (see the module docstring).

    ``log`` is the ``git log`` for ``options``' range when the caller started it early
    (to overlap it with other work); the walk then owns and closes it.
    """
    opts = options or WalkOptions()
    history = History()
    git_dir, history.shallow = repo_info(root)
    if history.shallow:
        cut = shallow_cut(git_dir)
        history.notes.append(
            Note("shallow", None, f"shallow clone: history before {len(cut)} commit(s) is absent")
        )
    with BlobReader(root) as blobs:
        _Walker(root, blobs, history, opts).run(log)
    history.tags = tags(root)
    return history


class _Walker:
    def __init__(self, root: Path, blobs: BlobReader, history: History, opts: WalkOptions) -> None:
        self.root, self.blobs, self.history, self.opts = root, blobs, history, opts
        self.regimes = _Regimes(blobs, history, opts.infer)
        self.trees: dict[str, _Tree] = {}
        self.claim_hashes: dict[str, str] = {}
        self.before_manifest = 0

    def run(self, log: LogProcess | None) -> None:
        with log or LogProcess(self.root, self.opts.since, self.opts.until) as running:
            for raw in parse_log(tokens(running.chunks())):
                self._commit(raw)
            self._check_exit(*running.finish())
        if self.before_manifest:
            hint = ""
            if not self.opts.infer and (self.root / "dvc.yaml").is_file():
                hint = "; dvc.yaml is here: `seid reconstruct --infer` classifies them from it"
            self.history.notes.append(
                Note(
                    "before-manifest",
                    None,
                    f"{self.before_manifest} commit(s) had no usable manifest: unclassified{hint}",
                )
            )

    def _check_exit(self, code: int, stderr: str) -> None:
        if code == 0:
            return
        unborn = "does not have any commits" in stderr or "bad revision 'HEAD'" in stderr
        if unborn and self.opts.until is None and not self.opts.since:
            self.history.notes.append(Note("empty", None, "the repository has no commits yet"))
            return
        lines = stderr.strip().splitlines()
        raise SeidError(f"git log failed: {lines[-1] if lines else f'exit status {code}'}")

    def _start_tree(self, raw: RawCommit) -> _Tree:
        if not raw.parents:
            return _Tree()
        parent = raw.parents[0]
        if parent in self.trees:
            return self.trees[parent]
        # The range starts here (--since): read the tracked files as the parent had them.
        found = ((p, self.blobs.lookup(f"{parent}:{p}")) for p in _TRACKED)
        return _Tree({p: b[0] for p, b in found if b})

    def _commit(self, raw: RawCommit) -> None:
        tree = self._start_tree(raw).updated(raw.changes)
        self.trees[raw.sha] = tree
        if tree.regime is None:
            tree.regime = self.regimes.at(tree, raw.sha)
        regime_index = tree.regime
        regime = self.history.regimes[regime_index]
        commit = Commit(raw.sha, raw.parents, raw.author, raw.email, raw.date, raw.subject)
        commit.regime = regime_index
        commit.changed = len(raw.changes)
        self._note_manifest(raw, regime)
        if regime.matcher is None:
            self.before_manifest += 1
        else:
            for change in raw.changes:
                cls = regime.matcher.classify(change.path)
                if cls is not None:
                    commit.classes.setdefault(cls, []).append(change.path)
                    if cls != "A" and change.new is not None:
                        commit.blobs[change.path] = change.new
            if not commit.is_merge:
                self._claims(raw, regime)
        self.history.commits.append(commit)
        if self.opts.on_commit is not None:
            self.opts.on_commit(commit)

    def _note_manifest(self, raw: RawCommit, regime: Regime) -> None:
        for change in raw.changes:
            if change.path in MANIFEST_NAMES and change.status == "D" and not raw.parents[1:]:
                message = f"{change.path} deleted; " + (
                    "classes from the manifest still in force"
                    if regime.manifest
                    else "later commits are unclassified"
                )
                self.history.notes.append(Note("manifest-deleted", raw.sha, message))

    def _claims(self, raw: RawCommit, regime: Regime) -> None:
        assert regime.claims is not None
        for change in raw.changes:
            if change.new is None or regime.claims.classify(change.path) is None:
                continue
            if PurePosixPath(change.path).name in MANIFEST_NAMES:
                continue
            self.history.claims.append(self._claim(raw.sha, change))

    def _claim(self, sha: str, change: Change) -> ClaimVersion:
        assert change.new is not None
        data = self.blobs.read(change.new)
        name = PurePosixPath(change.path).name
        with tempfile.TemporaryDirectory(prefix="seid-claim-") as scratch:
            path = Path(scratch) / name
            path.write_bytes(data or b"")
            try:
                claim = load_claim(path, display=change.path)
            except SeidError as err:
                return ClaimVersion(sha, change.path, None, None, None, None, str(err))
        previous = self.claim_hashes.get(claim.claim_id)
        self.claim_hashes[claim.claim_id] = claim.hash
        return ClaimVersion(
            sha, change.path, claim.claim_id, claim.hash, claim.prior_hash, previous
        )
