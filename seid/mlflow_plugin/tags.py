"""The tags that tie an MLflow run to its PRML claim and seid project.

No MLflow import at module level: the entry point module (:mod:`.context`) and
``seid.mlflow`` both import this one, and MLflow loads entry points while it is itself
being imported.

Tags (all strings; each only when its source exists):

- ``prml.manifest_hash``: canonical PRML hash of the claim (:func:`seid.claims.load_claim`)
- ``prml.manifest_path``: the claim file, relative to the project root, ``/``-separated
- ``prml.version``, ``prml.metric``, ``prml.comparator``, ``prml.threshold``,
  ``prml.dataset_id``: what the claim pre-registers (the descriptive tags)
- ``seid.manifest_digest``: SHA-256 of ``sei.yaml``; ``seid.git_commit``: HEAD of the
  project; ``seid.ledger_head``: ``<log id>@<size>:<root hex>`` of the newest local log

The project root is the nearest directory at or above the working directory holding a
``sei.yaml`` (else a ``.git``, else the claim's own directory). The claim is the first one
``sei.yaml`` lists, else the nearest ``prml.yaml`` / ``*.prml.yaml`` at or above the
working directory. With ``SEID_TAG_SCOPE=experiment`` (or ``MLFLOW_FALSIFY_TAG_SCOPE``, the
variable of the falsify plugin) runs get only the hash and path, and the descriptive
tags go on the experiment once (:func:`tag_experiment`).

A provider runs at every ``start_run``: it must be cheap and must never break the run.
Parsed claims and manifests are cached by file stat; any failure is a logged warning.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from seid import git
from seid.errors import SeidError

log = logging.getLogger(__name__)

SCOPE_VARIABLES = ("SEID_TAG_SCOPE", "MLFLOW_FALSIFY_TAG_SCOPE")
RUN_TAGS = ("prml.manifest_hash", "prml.manifest_path")
CLAIM_NAMES = ("prml.yaml",)
CLAIM_SUFFIX = ".prml.yaml"
_T = TypeVar("_T")
_cache: dict[tuple[str, Path], tuple[tuple[int, ...], Any]] = {}
_tagged_experiments: set[tuple[str, str, str]] = set()


@dataclass(frozen=True)
class Project:
    """Where a run started: the project root, its manifest and its claim (if any)."""

    root: Path
    manifest: Path | None
    claim: Path | None


def experiment_scope() -> bool:
    return any(os.environ.get(name, "").lower() == "experiment" for name in SCOPE_VARIABLES)


def find_project(start: Path) -> Project | None:
    """The project ``start`` belongs to, or None when there is neither manifest nor claim."""
    from seid.config import MANIFEST_NAMES

    nearest_claim: Path | None = None
    git_root: Path | None = None
    for directory in (start, *start.parents):
        manifest = next((directory / n for n in MANIFEST_NAMES if (directory / n).is_file()), None)
        if manifest is not None:
            claim = _listed_claim(directory, manifest) or nearest_claim
            return Project(directory, manifest, claim)
        nearest_claim = nearest_claim or _claim_in(directory)
        if git_root is None and (directory / ".git").exists():
            git_root = directory
    if nearest_claim is None:
        return None
    return Project(git_root or nearest_claim.parent, None, nearest_claim)


def context_tags(project: Project) -> dict[str, str]:
    """Every tag for ``project``; a bad claim or manifest costs its tags, with a warning."""
    tags: dict[str, str] = {}
    if project.claim is not None:
        tags["prml.manifest_path"] = _relative(project.claim, project.root)
        claim_tags = _cached(project.claim, "claim", _claim_tags)
        if claim_tags is not None:
            tags.update(claim_tags)
    if project.manifest is not None:
        digest = _cached(project.manifest, "digest", _manifest_digest)
        if digest is not None:
            tags["seid.manifest_digest"] = digest
    commit = _git_commit(project.root)
    if commit:
        tags["seid.git_commit"] = commit
    head = _ledger_head(project.root)
    if head:
        tags["seid.ledger_head"] = head
    return tags


def tag_experiment(experiment_id: str | None = None, start: Path | None = None) -> dict[str, str]:
    """Put the claim's descriptive tags on an experiment (default: the active one).

    ``start`` is where to look for the project (default: the working directory).
    Idempotent: tags already present with the same value are not written again.
    Returns the tags that were written.
    """
    project = find_project(start or Path.cwd())
    return {} if project is None else _write_experiment_tags(project, experiment_id)


def _write_experiment_tags(project: Project, experiment_id: str | None) -> dict[str, str]:
    import mlflow
    from mlflow.tracking import MlflowClient

    wanted = {k: v for k, v in context_tags(project).items() if k.startswith("prml.")}
    if not wanted:
        return {}
    if experiment_id is None:
        experiment_id = str(mlflow.tracking.fluent._get_experiment_id())
    client = MlflowClient()
    present = client.get_experiment(experiment_id).tags
    written = {k: v for k, v in wanted.items() if present.get(k) != v}
    for key, value in written.items():
        client.set_experiment_tag(experiment_id, key, value)
    return written


def tag_active_experiment(project: Project) -> None:
    """Tag the experiment of the starting run once per process (per claim version)."""
    import mlflow

    experiment_id = _starting_experiment_id()
    claim_tags = _cached(project.claim, "claim", _claim_tags) if project.claim else None
    key = (mlflow.get_tracking_uri(), experiment_id, repr(claim_tags))
    if key not in _tagged_experiments:
        _write_experiment_tags(project, experiment_id)
        _tagged_experiments.add(key)


def _starting_experiment_id() -> str:
    """The experiment of the run being started.

    MLflow does not pass it to context providers; ``start_run`` holds it in a local
    (``exp_id_for_run``), read from its frame. Elsewhere (or if MLflow renames it) the
    active experiment is used, which is what ``start_run`` picks without an explicit id.
    """
    import mlflow

    frame = inspect.currentframe()
    try:
        while frame is not None:
            code, module = frame.f_code.co_name, frame.f_globals.get("__name__")
            if code == "start_run" and module == "mlflow.tracking.fluent":
                found = frame.f_locals.get("exp_id_for_run")
                if found is not None:
                    return str(found)
            frame = frame.f_back
    finally:
        del frame
    return str(mlflow.tracking.fluent._get_experiment_id())


def _claim_in(directory: Path) -> Path | None:
    for name in CLAIM_NAMES:
        if (directory / name).is_file():
            return directory / name
    try:
        found = sorted(p for p in directory.iterdir() if p.name.endswith(CLAIM_SUFFIX))
    except OSError:
        return None
    return next((p for p in found if p.is_file()), None)


def _listed_claim(root: Path, manifest: Path) -> Path | None:
    listed = _cached(manifest, "claims", _manifest_claims)
    for entry in listed or []:
        matches = [root / entry] if (root / entry).is_file() else sorted(root.glob(entry))
        if matches:
            return matches[0]
    return None


def _claim_tags(path: Path) -> dict[str, str]:
    from seid.claims import load_claim

    claim = load_claim(path)
    return {
        "prml.manifest_hash": claim.hash,
        "prml.version": str(claim.data.get("version", "")),
        "prml.metric": claim.metric,
        "prml.comparator": claim.comparator,
        "prml.threshold": repr(claim.threshold),
        "prml.dataset_id": claim.dataset_id,
    }


def _manifest_digest(path: Path) -> str:
    from seid.config import load_manifest

    return load_manifest(path.parent).manifest_digest


def _manifest_claims(path: Path) -> list[str]:
    from seid.config import load_manifest

    return list(load_manifest(path.parent).claims)


def _cached(path: Path, kind: str, load: Callable[[Path], _T]) -> _T | None:
    """``load(path)`` memoised by the file's stat; a SeidError is logged, returns None."""
    try:
        st = path.stat()
    except OSError as exc:
        log.warning("seid: %s: %s", path, exc.strerror)
        return None
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    hit = _cache.get((kind, path))
    if hit is not None and hit[0] == stamp:
        return hit[1]  # type: ignore[no-any-return]
    try:
        value: _T | None = load(path)
    except SeidError as err:
        log.warning("seid: %s", err)
        value = None
    _cache[kind, path] = (stamp, value)
    return value


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _git_commit(root: Path) -> str | None:
    return git.head(root)


def _ledger_head(root: Path) -> str | None:
    """``<log id>@<size>:<root hex>`` of the most recently appended local log."""
    from seid.ledger.log import Ledger, list_logs
    from seid.ledger.paths import log_dir

    newest: tuple[int, str] | None = None
    for log_id in list_logs(root):
        with_log = log_dir(root, log_id) / "log"
        if with_log.is_file():
            stamp = with_log.stat().st_mtime_ns
            if newest is None or stamp > newest[0]:
                newest = (stamp, log_id)
    if newest is None:
        return None
    log_id = newest[1]

    def head(_: Path) -> str | None:
        with Ledger.open(root, log_id) as ledger:
            return f"{log_id}@{ledger.size}:{ledger.root().hex()}" if ledger.size else None

    return _cached(log_dir(root, log_id) / "log", "ledger", head)
