"""The ledger side of replay: every log found, verified, its bundles joined to commits.

Logs come from ``.sei/ledger/`` and from the published refs ``refs/seid/ledger/*``;
:func:`seid.ledger.verify.verify_repo` checks them (signatures, the Merkle tree against
every checkpoint, forks between a local log and its published copy, and the newest
subject digest of each file still in the work tree), and :mod:`seid.ledger.entries`
reads them as approvals read them. An entry whose signature or inclusion fails is
*broken evidence*: reported, never used to evidence a commit. A subject whose file has
changed since is reported too, but the bundle still stands for what it recorded.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seid import evidence, keys, registry_statements
from seid.errors import SeidError
from seid.git import BlobReader
from seid.jsonsafe import load_json
from seid.ledger import entries, witnessed
from seid.ledger.entries import Entry, entry_ref, run_time
from seid.ledger.verify import LogReport, verify_repo
from seid.replay.history import History
from seid.sei_evidence import PUBKEY_FILE, verify_sei_dir

DIRTY_REACH = 50


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

    def table_versions(self) -> dict[str, int]:
        """The lakehouse table versions the run was pinned to, by table name."""
        recorded = self.predicate.get("tables")
        if not isinstance(recorded, dict):
            return {}
        return {
            str(name): entry["version"]
            for name, entry in recorded.items()
            if isinstance(entry, dict) and isinstance(entry.get("version"), int)
        }

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
        return run_time(self.predicate)

    @property
    def ref(self) -> str:
        """How a report names this entry: ``<log id prefix>#<index>``."""
        return entry_ref(self.log_id, self.index)


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
        return entry_ref(self.log_id, self.index)


@dataclass(frozen=True)
class Promotion:
    """A statement (not an evidence bundle) that a model built at ``commit`` was promoted,
    and when, if it says."""

    log_id: str
    index: int
    commit: str
    predicate_type: str
    at: str | None = None
    promoted: str | None = None  # what moved, as the statement says (model and version)

    @property
    def ref(self) -> str:
        return entry_ref(self.log_id, self.index)


@dataclass(frozen=True)
class RegistryFinding:
    """What the sidecar saw in a model registry (:mod:`seid.registry_statements`): a version holding
    an alias without the evidence, or the approval, the manifest requires."""

    log_id: str
    index: int
    kind: str
    uri: str  # models:/<model>/<version>
    alias: str
    observed: str | None

    @property
    def ref(self) -> str:
        return entry_ref(self.log_id, self.index)


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
    rewritten: list[Broken] = field(default_factory=list)  # logs witnesses saw otherwise
    promotions: list[Promotion] = field(default_factory=list)
    registry: list[RegistryFinding] = field(default_factory=list)
    logs: list[LogSummary] = field(default_factory=list)
    other: int = 0
    statements: list[Entry] = field(default_factory=list)  # every entry read, as read

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
    found = collect(root)
    if history is not None:
        attribute_dirty(root, history, found)
    return found


def collect(root: Path) -> Evidence:
    """Every log verified and its entries sorted into evidence, without the history (so
    it can run beside the walk: signature checks release the GIL)."""
    found = Evidence()
    reports = verify_repo(root, subjects=True, roots_at=witnessed.wanted_roots(root))
    reports += witnessed.apply(root, reports)  # a rewritten log: its witnessed history
    found.rewritten = [
        Broken(r.log_id, p.entry, r.source, p.reason)
        for r in reports
        for p in r.problems
        if p.reason.startswith(witnessed.REWRITTEN)
    ]
    for log_id in sorted({r.log_id for r in reports}):
        mine = [r for r in reports if r.log_id == log_id]
        found.logs.append(_summary(log_id, mine))
        found.stale_subjects += [
            Broken(log_id, p.entry, r.source, p.reason)
            for r in mine
            for p in r.problems
            if p.reason.startswith(entries.STALE_SUBJECT)
        ]
    for entry in entries.read(root, reports):
        _take(found, entry)
    _sei_engine(root, found)
    found.bundles.sort(key=lambda b: (b.when or "", b.log_id, b.index))
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


def _summary(log_id: str, reports: list[LogReport]) -> LogSummary:
    return LogSummary(
        log_id,
        tuple(r.source for r in reports),
        max(r.size for r in reports),
        all(r.ok for r in reports),
        tuple(n for r in reports for n in r.notices),
    )


def _take(found: Evidence, entry: Entry) -> None:
    found.statements.append(entry)
    commit = _commit_of(entry.predicate)
    if entry.problem is not None or entry.digest is None:
        reason = entry.problem or "unreadable"
        found.broken.append(Broken(entry.log_id, entry.index, entry.source, reason, commit))
    elif entry.predicate_type == evidence.EVIDENCE_PREDICATE:
        found.bundles.append(Bundle(entry.log_id, entry.index, entry.digest, entry.predicate))
    elif entry.predicate_type == registry_statements.PROMOTION_PREDICATE and commit is not None:
        at, promoted = entry.predicate.get("at"), entry.predicate.get("promoted")
        found.promotions.append(
            Promotion(
                entry.log_id,
                entry.index,
                commit,
                str(entry.predicate_type),
                at if isinstance(at, str) else None,
                promoted if isinstance(promoted, str) else None,
            )
        )
    elif entry.predicate_type == registry_statements.FINDING_PREDICATE and _registry_kind(entry):
        found.registry.append(_registry_finding(entry))
    else:
        found.other += 1


def _registry_kind(entry: Entry) -> bool:
    """A registry finding of a kind this report knows (another one counts as ``other``)."""
    return entry.predicate.get("kind") in registry_statements.KINDS


def _registry_finding(entry: Entry) -> RegistryFinding:
    predicate = entry.predicate
    text = {k: v if isinstance(v, str) else None for k, v in predicate.items()}
    uri = f"models:/{text.get('model') or '?'}/{text.get('version') or '?'}"
    return RegistryFinding(
        entry.log_id,
        entry.index,
        str(predicate["kind"]),
        uri,
        text.get("alias") or "?",
        text.get("observed"),
    )


def _commit_of(predicate: Mapping[str, Any]) -> str | None:
    git = predicate.get("git")
    commit = git.get("commit") if isinstance(git, dict) else None
    return commit if isinstance(commit, str) else None
