"""Typed drift: which watched inputs changed since the last evidence, by class A/B/C.

The baseline is the snapshot recorded in the newest trusted evidence bundle
(:mod:`seid.trusted`: signed by a trusted key, in a checkpoint of its log, on HEAD's
branch, from a local or a published log). Before there is any, drift is listed against
HEAD as committed, though a run is due all the same (nothing is evidenced yet): the
SHA-256 of the committed blobs of the watched paths, read through one ``git ls-tree`` and
one ``git cat-file --batch`` pipe (and cached by blob id, since a blob never changes). A
watched file that git ignores is absent from HEAD by design (DVC-managed data: its
pointer in ``*.dvc`` or ``dvc.lock`` is what git commits), so it is left out of a
comparison against HEAD rather than called added.

Paths are compared by path, not by class: a file whose class changed (because the
manifest's globs changed) but whose content did not is no drift of its own; the manifest
change that moved it is class A drift already. Baseline paths that no glob watches any
more are dropped for the same reason.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from seid import git
from seid.snapshot import (
    CLASS_NAMES,
    DriftClass,
    Matcher,
    Snapshot,
    SnapshotOptions,
    take_snapshot,
)
from seid.statcache import StatCache

if TYPE_CHECKING:
    from seid.tables.drift import TableCheck
    from seid.tables.state import TableSpec

Change = Literal["added", "deleted", "modified"]
_MODES_FILE = (b"100644", b"100755")
_MODE_LINK = b"120000"
_LEDGER_KEY = "ledger/v2"
_HEAD_KEY = "head/v1"


@dataclass(frozen=True)
class Drift:
    """The changed watched paths, by class, each with how it changed."""

    changes: Mapping[DriftClass, Mapping[str, Change]] = field(default_factory=dict)

    @property
    def classes(self) -> frozenset[DriftClass]:
        return frozenset(c for c, paths in self.changes.items() if paths)

    @property
    def paths(self) -> dict[DriftClass, list[str]]:
        return {c: sorted(p) for c, p in sorted(self.changes.items()) if p}

    def __bool__(self) -> bool:
        return bool(self.classes)

    def to_predicate(self) -> dict[str, Any]:
        """``{"classes": [...], "paths": {class: [path, ...]}}`` as the bundle records it."""
        return {"classes": sorted(self.classes), "paths": self.paths}


@dataclass(frozen=True)
class Baseline:
    """What the inputs were when last evidenced, and where that record came from.

    ``source`` is ``ledger`` for the newest trusted evidence (:mod:`seid.trusted`);
    before there is any, drift is still listed against HEAD as committed (or nothing),
    but no evidence exists yet, so a run is due. ``untrusted`` names logs whose key is
    not in ``.sei/trust/``: their entries never count.
    """

    source: Literal["ledger", "HEAD", "none"]
    inputs: Mapping[DriftClass, Mapping[str, str]]
    commit: str | None = None
    predicate: Mapping[str, Any] | None = None
    excluded: frozenset[str] = frozenset()
    untrusted: tuple[str, ...] = ()

    @property
    def evidenced(self) -> bool:
        return self.source == "ledger"

    def describe(self) -> str:
        if self.source == "ledger":
            return "the newest trusted evidence bundle"
        if self.source == "HEAD":
            return f"HEAD as committed ({(self.commit or '')[:12]}; no evidence yet)"
        return "nothing (no evidence and no commit yet)"


def compare(
    old: Mapping[DriftClass, Mapping[str, str]] | Mapping[str, Mapping[str, str]],
    snapshot: Snapshot,
    matcher: Matcher,
    excluded: Iterable[str] = (),
) -> Drift:
    """Drift from ``old`` (``{class: {path: sha256}}``) to ``snapshot``."""
    skip = set(excluded)
    before = {p: d for paths in old.values() for p, d in paths.items() if p not in skip}
    before = {p: d for p, d in before.items() if matcher.classify(p) is not None}
    changes: dict[DriftClass, dict[str, Change]] = {}
    seen: set[str] = set()
    for cls, paths in snapshot.inputs.items():
        for path, digest in paths.items():
            if path in skip:
                continue
            seen.add(path)
            was = before.get(path)
            if was != digest:
                changes.setdefault(cls, {})[path] = "added" if was is None else "modified"
    for path in before.keys() - seen:
        gone = matcher.classify(path)
        assert gone is not None
        changes.setdefault(gone, {})[path] = "deleted"
    return Drift(changes)


@dataclass(frozen=True)
class Evidence:
    """The newest trusted evidence bundle's predicate (None before the first) and the
    logs that cannot count because their key is not trusted."""

    predicate: Mapping[str, Any] | None
    untrusted: tuple[str, ...] = ()


def latest_evidence(
    root: Path, cache: StatCache | None = None, head: str | None = None
) -> Evidence:
    """The newest trusted evidence on HEAD's branch (:func:`seid.trusted.newest_trusted`).

    Without ``.sei/ledger/`` and without published logs there is none, and the ledger
    code (and its crypto imports) is not loaded at all. With a ``cache`` the answer is
    kept, keyed by the stat of every file of every log and of the trust directory, the
    published refs and HEAD, so a warm status verifies nothing again; an append, a new
    trusted key, a fetch or a commit changes the key.
    """
    from seid.fsutil import LEDGER_DIR

    base = root / LEDGER_DIR
    refs = _published_refs(root)
    if not base.is_dir() and not refs:
        return Evidence(None)
    head = head if head is not None else _head(root)
    key = [_ledger_fingerprint(base), _trust_fingerprint(root), refs, head]
    raw = cache.get_meta(_LEDGER_KEY) if cache is not None else None
    if raw is not None:
        doc = json.loads(raw)
        if doc["key"] == key:
            return Evidence(doc["predicate"], tuple(doc["untrusted"]))
    from seid.evidence import EVIDENCE_PREDICATE
    from seid.trusted import newest_trusted

    found = newest_trusted(root, EVIDENCE_PREDICATE, head)
    predicate = None if found.statement is None else found.statement["predicate"]
    if cache is not None:
        doc = {"key": key, "predicate": predicate, "untrusted": list(found.untrusted)}
        cache.put_meta(_LEDGER_KEY, json.dumps(doc))
    return Evidence(predicate, found.untrusted)


def _published_refs(root: Path) -> str:
    """``refname sha`` of every published log this clone has (empty outside git)."""
    from seid.ledger.paths import REF_PREFIX

    return git.probe(root, "for-each-ref", "--format=%(refname) %(objectname)", REF_PREFIX) or ""


def _head(root: Path) -> str | None:
    return git.head(root)


def _trust_fingerprint(root: Path) -> list[list[Any]]:
    from seid.fsutil import TRUST_DIR

    trust = root / TRUST_DIR
    if not trust.is_dir():
        return []
    return [
        [f.name, st.st_ino, st.st_size, st.st_mtime_ns]
        for f in sorted(os.scandir(trust), key=lambda e: e.name)
        for st in [f.stat(follow_symlinks=False)]
    ]


def _ledger_fingerprint(base: Path) -> list[list[Any]]:
    rows: list[list[Any]] = []
    if not base.is_dir():
        return rows  # a clone that has only fetched logs
    for log in sorted(os.scandir(base), key=lambda e: e.name):
        if log.is_dir(follow_symlinks=False):
            for f in sorted(os.scandir(log.path), key=lambda e: e.name):
                if f.is_file(follow_symlinks=False) and f.name != "lock":
                    st = f.stat(follow_symlinks=False)
                    rows.append([log.name, f.name, st.st_ino, st.st_size, st.st_mtime_ns])
    return rows


def baseline(root: Path, snapshot: Snapshot, matcher: Matcher, cache: StatCache) -> Baseline:
    """The newest trusted evidence's snapshot, else HEAD as committed, else nothing."""
    found = latest_evidence(root, cache, snapshot.commit)
    predicate, untrusted = found.predicate, found.untrusted
    if predicate is not None:
        inputs = predicate.get("inputs", {})
        return Baseline("ledger", inputs, predicate=predicate, untrusted=untrusted)
    if snapshot.commit is None:
        return Baseline("none", {}, untrusted=untrusted)
    inputs = _committed(root, snapshot.commit, matcher, cache)
    committed = {p for paths in inputs.values() for p in paths}
    fresh = [p for paths in snapshot.inputs.values() for p in paths if p not in committed]
    excluded = git_ignored(snapshot.ignored, fresh)
    return Baseline("HEAD", inputs, commit=snapshot.commit, excluded=excluded, untrusted=untrusted)


def _committed(
    root: Path, commit: str, matcher: Matcher, cache: StatCache
) -> Mapping[DriftClass, Mapping[str, str]]:
    """:func:`head_inputs`, kept for the last (commit, watch list) pair: a commit's tree
    never changes, so a warm status starts no ``git ls-tree`` at all."""
    key = f"{commit}:{matcher.key}"
    raw = cache.get_meta(_HEAD_KEY)
    if raw is not None:
        doc = json.loads(raw)
        if doc["key"] == key:
            cached: Mapping[DriftClass, Mapping[str, str]] = doc["inputs"]
            return cached
    inputs = head_inputs(root, commit, matcher, cache)
    cache.put_meta(_HEAD_KEY, json.dumps({"key": key, "inputs": inputs}))
    return inputs


@dataclass(frozen=True)
class Detection:
    snapshot: Snapshot
    baseline: Baseline
    drift: Drift
    tables: TableCheck | None = None  # the declared lakehouse tables, when there are any


def detect(
    root: Path,
    globs: Mapping[DriftClass, Sequence[str]],
    cache: StatCache,
    options: SnapshotOptions | None = None,
    tables: Sequence[TableSpec] = (),
) -> Detection:
    """Snapshot the inputs of ``root`` and compare them with the last evidenced state.

    Declared ``tables`` are read through their format's library (only then imported)
    and compared with the baseline bundle's ``tables``; the drifted ones join class C
    as ``table:<name>``.
    """
    matcher = Matcher(globs)
    snap = take_snapshot(root, matcher, cache, options)
    base = baseline(root, snap, matcher, cache)
    drift = compare(base.inputs, snap, matcher, base.excluded)
    if not tables:
        return Detection(snap, base, drift)
    from seid.tables.drift import check_tables

    recorded = base.predicate.get("tables", {}) if base.predicate is not None else None
    check = check_tables(root, tables, recorded, cache)
    changes: dict[DriftClass, dict[str, Change]] = {c: dict(p) for c, p in drift.changes.items()}
    changes.setdefault("C", {}).update(check.paths())
    return Detection(snap, base, Drift(changes), check)


def git_ignored(ignored: frozenset[str], paths: Iterable[str]) -> frozenset[str]:
    """Which of ``paths`` git ignores, given ``git status``'s collapsed ignored list."""
    dirs = tuple(p for p in ignored if p.endswith("/"))
    return frozenset(p for p in paths if p in ignored or p.startswith(dirs))


def head_inputs(
    root: Path, commit: str, matcher: Matcher, cache: StatCache
) -> dict[DriftClass, dict[str, str]]:
    """``{class: {path: sha256}}`` of the watched paths as committed in ``commit``."""
    blobs: dict[str, str] = {}
    links: dict[str, str] = {}
    for rec in git.output(root, "ls-tree", "-r", "-z", "--full-tree", commit).split(b"\0"):
        if not rec:
            continue
        meta, _, raw = rec.partition(b"\t")
        mode, kind, obj = meta.split(b" ")
        name = raw.decode()
        if kind == b"blob" and mode in _MODES_FILE:
            blobs[name] = obj.decode()
        elif kind == b"blob" and mode == _MODE_LINK and matcher.classify(name) is not None:
            links[name] = obj.decode()
    targets = _link_targets(root, links, cache)
    watched = {p: o for p, o in blobs.items() if matcher.classify(p) is not None}
    # A committed link to a committed file stands for that file's content, as on disk.
    watched.update({p: blobs[t] for p, t in targets.items() if t in blobs})
    digests = _blob_digests(root, set(watched.values()), cache)
    out: dict[DriftClass, dict[str, str]] = {"A": {}, "B": {}, "C": {}}
    for path, oid in sorted(watched.items()):
        cls = matcher.classify(path)
        assert cls is not None
        out[cls][path] = digests[oid]
    return out


def _link_targets(root: Path, links: Mapping[str, str], cache: StatCache) -> dict[str, str]:
    """Repo-relative targets of committed symlinks that stay inside the repository."""
    if not links:
        return {}
    texts = git.cat_blobs(root, set(links.values()), keep=True)
    out: dict[str, str] = {}
    for path, oid in links.items():
        target = texts[oid].decode(errors="replace")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        if not target.startswith("/") and not resolved.startswith("../") and resolved != "..":
            out[path] = resolved
    return out


def _blob_digests(root: Path, oids: set[str], cache: StatCache) -> dict[str, str]:
    known = cache.blob_digests(oids)
    missing = oids - known.keys()
    fresh = {oid: d.hex() for oid, d in git.cat_blobs(root, missing).items()}
    cache.store_blobs(fresh)
    return {**known, **fresh}


def class_label(cls: DriftClass) -> str:
    return f"{cls} {CLASS_NAMES[cls]} drift"
