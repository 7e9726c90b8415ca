"""The ledger side of replay: every log found, verified, its bundles joined to commits.

Logs come from ``.sei/ledger/`` and from the published refs ``refs/seid/ledger/*``;
:func:`seid.ledger.verify.verify_repo` checks them (signatures, the Merkle tree against
every checkpoint, forks between a local log and its published copy, and the newest
subject digest of each file still in the work tree). An entry whose signature or
inclusion fails is *broken evidence*: reported, never used to evidence a commit. A
subject whose file has changed since is reported too, but the bundle still stands for
what it recorded. The same entry read from a local log and from its ref counts once.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seid import evidence, keys
from seid.errors import SeidError, VerificationError
from seid.jsonsafe import load_json
from seid.ledger import records, refs
from seid.ledger.paths import REF_PREFIX, log_dir
from seid.ledger.verify import LogReport, Problem, verify_repo
from seid.replay.gitlog import BlobReader
from seid.replay.history import History
from seid.venth import PUBKEY_FILE, verify_sei_dir

PROMOTION_HINT = "promot"
DIRTY_REACH = 50
_TAINTS = ("fork", "missing")
_STALE_SUBJECT = "subject "  # predicate types such as https://seid.dev/promotion/v1


@dataclass(frozen=True)
class Bundle:
    """A verified evidence bundle: where it is in which log, and what it says."""

    log_id: str
    index: int
    digest: str
    predicate: Mapping[str, Any]
    joined: str | None = None  # the commit a dirty run's inputs were later committed in

    @property
    def recorded_commit(self) -> str | None:
        """``git.commit`` as recorded: HEAD when the pipeline ran."""
        git = self.predicate.get("git")
        value = git.get("commit") if isinstance(git, dict) else None
        return value if isinstance(value, str) else None

    @property
    def commit(self) -> str | None:
        """The commit this bundle evidences."""
        return self.joined or self.recorded_commit

    @property
    def dirty(self) -> bool:
        git = self.predicate.get("git")
        return isinstance(git, dict) and git.get("dirty") is True

    def inputs(self) -> dict[str, str]:
        """The recorded snapshot, ``{path: sha256}`` over all classes."""
        recorded = self.predicate.get("inputs")
        out: dict[str, str] = {}
        if isinstance(recorded, dict):
            for paths in recorded.values():
                if isinstance(paths, dict):
                    out.update({k: v for k, v in paths.items() if isinstance(v, str)})
        return out

    @property
    def gate(self) -> str | None:
        gate = self.predicate.get("gate")
        return gate if isinstance(gate, str) else None

    @property
    def verdicts(self) -> list[dict[str, Any]]:
        found = self.predicate.get("verdicts")
        return [v for v in found if isinstance(v, dict)] if isinstance(found, list) else []

    @property
    def when(self) -> str | None:
        pipeline = self.predicate.get("pipeline")
        if isinstance(pipeline, dict):
            for key in ("finished", "started"):
                if isinstance(pipeline.get(key), str):
                    return str(pipeline[key])
        return None

    @property
    def ref(self) -> str:
        """How a report names this entry: ``<log id prefix>#<index>``."""
        return f"{self.log_id[:16]}#{self.index}"


@dataclass(frozen=True)
class Broken:
    """An entry that failed verification: a finding, never evidence."""

    log_id: str
    index: int
    source: str
    reason: str
    commit: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.log_id[:16]}#{self.index}"


@dataclass(frozen=True)
class Promotion:
    """A statement (not an evidence bundle) that a model built at ``commit`` was promoted."""

    log_id: str
    index: int
    commit: str
    predicate_type: str


@dataclass(frozen=True)
class LogSummary:
    log_id: str
    sources: tuple[str, ...]
    size: int
    ok: bool
    notices: tuple[str, ...] = ()


@dataclass
class Evidence:
    """What the ledger says, by commit, and what in it cannot be trusted."""

    bundles: list[Bundle] = field(default_factory=list)
    broken: list[Broken] = field(default_factory=list)
    stale_subjects: list[Broken] = field(default_factory=list)
    promotions: list[Promotion] = field(default_factory=list)
    logs: list[LogSummary] = field(default_factory=list)
    other: int = 0

    def by_commit(self) -> dict[str, list[Bundle]]:
        out: dict[str, list[Bundle]] = {}
        for bundle in self.bundles:
            if bundle.commit:
                out.setdefault(bundle.commit, []).append(bundle)
        return out


def join(root: Path, history: History | None = None) -> Evidence:
    """Verify every log of the repository at ``root`` and collect its bundles.

    With ``history``, a bundle of a run on uncommitted changes is joined to the commit
    that committed exactly the inputs it recorded (see :func:`attribute_dirty`).
    """
    found = Evidence()
    seen: set[tuple[str, int, str]] = set()
    reports = verify_repo(root, subjects=True)
    for log_id in sorted({r.log_id for r in reports}):
        mine = [r for r in reports if r.log_id == log_id]
        found.logs.append(_summary(log_id, mine))
        forks = [p for r in mine for p in r.problems if p.reason.startswith("fork")]
        fork = min(forks, key=lambda p: p.entry) if forks else None
        for report in mine:
            stale = [p for p in report.problems if p.reason.startswith(_STALE_SUBJECT)]
            found.stale_subjects += [
                Broken(log_id, p.entry, report.source, p.reason) for p in stale
            ]
            _read_log(root, report, _problems(report, fork), found, seen)
    _sei_engine(root, found)
    found.bundles.sort(key=lambda b: (b.when or "", b.log_id, b.index))
    if history is not None:
        attribute_dirty(root, history, found)
    return found


def attribute_dirty(root: Path, history: History, found: Evidence) -> None:
    """Join each dirty bundle to the commit its inputs went into.

    A run on uncommitted changes records the HEAD it started from and ``dirty: true``;
    what it evidenced is the next commit (in walk order, within :data:`DIRTY_REACH`
    commits) that changes watched B/C inputs, provided every path that commit changes
    has exactly the SHA-256 the bundle recorded. Otherwise it stays at its HEAD.
    """
    if not any(bundle.dirty for bundle in found.bundles):
        return
    position = {commit.sha: i for i, commit in enumerate(history.commits)}
    digests: dict[str, str] = {}
    with BlobReader(root) as blobs:
        for n, bundle in enumerate(found.bundles):
            start = position.get(bundle.recorded_commit or "")
            if not bundle.dirty or start is None:
                continue
            recorded = bundle.inputs()
            later = history.commits[start + 1 : start + 1 + DIRTY_REACH]
            commit = next((c for c in later if c.blobs and not c.is_merge), None)
            if commit is not None and all(
                recorded.get(path) == _sha256(blobs, oid, digests)
                for path, oid in commit.blobs.items()
            ):
                found.bundles[n] = dataclasses.replace(bundle, joined=commit.sha)


def _sha256(blobs: BlobReader, oid: str, cache: dict[str, str]) -> str | None:
    if oid not in cache:
        data = blobs.read(oid)
        if data is None:
            return None
        cache[oid] = hashlib.sha256(data).hexdigest()
    return cache[oid]


# --- the sei engine's evidence (.venth/) -----------------------------------------------

SEI_DIR = ".venth"
SEI_BUNDLE = "bundle.json"
# The sei engine's control_results entries, read field by field: the first key present wins.
_SEI_FIELDS = {
    "risk": ("risk_id", "risk"),
    "measure": ("control_id", "measure_id", "measure", "id"),
    "metric": ("metric", "metric_name"),
    "observed": ("value", "observed", "metric_value", "actual"),
    "constraint": ("constraint", "criterion"),
    "enforcement": ("enforcement",),
}
_SEI_PASS = {"pass", "passed", "ok", "true", "compliant", "met"}
_SEI_FAIL = {"fail", "failed", "false", "non_compliant", "not_met", "violated"}


def _sei_engine(root: Path, found: Evidence) -> None:
    """The sei engine's ``.venth/bundle.json``, verified as ``seid verify --sei`` does, and
    joined to the commit in ``triple.code``; a file that does not verify is broken."""
    directory = root / SEI_DIR
    if not (directory / SEI_BUNDLE).is_file():
        return
    trusted = set(keys.trusted_keys(root))
    try:
        checked = verify_sei_dir(directory, trusted_ids=trusted)
    except SeidError as err:
        found.broken.append(Broken("0", 0, f"{SEI_DIR}/{SEI_BUNDLE}", str(err)))
        return
    key = checked.key_id
    bad = dict(checked.bad)
    try:
        data = load_json(directory / SEI_BUNDLE, display=f"{SEI_DIR}/{SEI_BUNDLE}").data
    except SeidError as err:
        bad.setdefault(SEI_BUNDLE, str(err))
        data = {}
    triple = data.get("triple") if isinstance(data, dict) else None
    commit = triple.get("code") if isinstance(triple, dict) else None
    commit = commit if isinstance(commit, str) else None
    reasons = [bad[name] for name in (PUBKEY_FILE, SEI_BUNDLE) if name in bad]
    if reasons or commit is None:
        reason = "; ".join(reasons) or "bundle.json has no triple.code commit"
        found.broken.append(Broken(key, 0, f"{SEI_DIR}/{SEI_BUNDLE}", reason, commit))
        return
    results = data.get("control_results")
    verdicts = (
        [_sei_verdict(r) for r in results if isinstance(r, dict)]
        if isinstance(results, list)
        else []
    )
    gate = "pass" if verdicts and all(v["verdict"] == "pass" for v in verdicts) else "fail"
    predicate = {"git": {"commit": commit}, "verdicts": verdicts, "gate": gate, "source": "sei"}
    digest = evidence.file_sha256(directory / SEI_BUNDLE)
    found.bundles.append(Bundle(key, 0, digest, predicate))


def _sei_verdict(item: Mapping[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        field: next((item[k] for k in names if item.get(k) is not None), None)
        for field, names in _SEI_FIELDS.items()
    }
    if entry["constraint"] is None and item.get("threshold") is not None:
        entry["constraint"] = f"{item.get('operator', '')} {item['threshold']}".strip()
    raw = next((item[k] for k in ("verdict", "status", "result", "passed") if k in item), None)
    text = str(raw).lower()
    entry["verdict"] = "pass" if text in _SEI_PASS else "fail" if text in _SEI_FAIL else "missing"
    return {
        k: (str(v) if k not in ("observed",) and v is not None else v) for k, v in entry.items()
    }


def _read_log(
    root: Path,
    report: LogReport,
    bad: dict[int, str],
    found: Evidence,
    seen: set[tuple[str, int, str]],
) -> None:
    for index, entry in _entries(root, report):
        reason = bad.pop(index, None) or (bad.get(-1) if index >= report.size else None)
        key = (report.log_id, index, hashlib.sha256(entry).hexdigest())
        if key not in seen:
            seen.add(key)
            _take(found, report, index, entry, reason)
    for index, reason in sorted(bad.items()):
        if index >= 0:  # reported but unreadable (a torn or corrupt record)
            found.broken.append(Broken(report.log_id, index, report.source, reason))


def _summary(log_id: str, reports: list[LogReport]) -> LogSummary:
    return LogSummary(
        log_id,
        tuple(r.source for r in reports),
        max(r.size for r in reports),
        all(r.ok for r in reports),
        tuple(n for r in reports for n in r.notices),
    )


def _problems(report: LogReport, fork: Problem | None) -> dict[int, str]:
    """Reasons by entry; a fork (on either side), a missing tail or an untrusted key
    taints every entry from its index on (-1: entries past the verified size)."""
    bad: dict[int, str] = {}
    taint_from: tuple[int, str] | None = None
    for problem in [*report.problems, *([fork] if fork else [])]:
        if problem.reason.startswith(_STALE_SUBJECT):
            continue  # the file changed since; the bundle itself still verifies
        known = bad.get(problem.entry)
        if known is None or problem.reason not in known:
            bad[problem.entry] = f"{known}; {problem.reason}" if known else problem.reason
        taints = problem.reason.startswith(_TAINTS) or "not trusted" in problem.reason
        if taints and (taint_from is None or problem.entry < taint_from[0]):
            taint_from = (problem.entry, problem.reason)
    if taint_from is not None:
        start, reason = taint_from
        for index in range(start, max(report.size, start + 1)):
            bad.setdefault(index, reason)
        bad[-1] = reason
    return bad


def _entries(root: Path, report: LogReport) -> Iterator[tuple[int, bytes]]:
    """``(index, entry bytes)`` of the log a report describes, until the first torn record."""
    if report.source.startswith(REF_PREFIX):
        with refs.open_ref_log(root, report.log_id) as stream:
            yield from _records(stream)
        return
    path = log_dir(root, report.log_id) / "log"
    try:
        with path.open("rb", buffering=1 << 20) as stream:
            yield from _records(stream)
    except OSError as exc:
        raise SeidError(f"cannot read {path}: {exc.strerror}") from None


def _records(stream: Any) -> Iterator[tuple[int, bytes]]:
    try:
        for index, (entry, _) in enumerate(records.iterate_pairs(stream)):
            yield index, entry
    except records.RecordError:
        return  # verify_repo reported it


def _take(found: Evidence, report: LogReport, index: int, entry: bytes, bad: str | None) -> None:
    try:
        statement = evidence.decode(entry)
    except VerificationError as err:
        found.broken.append(Broken(report.log_id, index, report.source, bad or str(err)))
        return
    predicate = statement.get("predicate")
    predicate = predicate if isinstance(predicate, dict) else {}
    kind = str(statement.get("predicateType"))
    commit = _commit_of(predicate)
    if bad is not None:
        found.broken.append(Broken(report.log_id, index, report.source, bad, commit))
    elif kind == evidence.EVIDENCE_PREDICATE:
        digest = hashlib.sha256(entry).hexdigest()
        found.bundles.append(Bundle(report.log_id, index, digest, predicate))
    elif PROMOTION_HINT in kind and commit is not None:
        found.promotions.append(Promotion(report.log_id, index, commit, kind))
    else:
        found.other += 1


def _commit_of(predicate: Mapping[str, Any]) -> str | None:
    git = predicate.get("git")
    commit = git.get("commit") if isinstance(git, dict) else None
    return commit if isinstance(commit, str) else None
