"""Dagster: the assets whose ``code_version`` no longer matches the one last evidenced.

Each asset declares its ``code_version`` in the project's definitions file, derived from
the digest of the treatment it runs, so a treatment change changes it. The versions a
run materialised are recorded in its evidence bundle, at
``predicate.pipeline.code_versions`` (``{asset key: code_version}``), because that is the
record seid signs and replays; Dagster's own instance storage may be absent or wiped on
the host. An asset is stale when its declared version differs from the recorded one (or
none is recorded), when the data changed and it reads no other asset (a root of the
graph), or when anything upstream of it is stale.

Reproducing materialises exactly the stale assets, through Dagster's Python API in a
subprocess (:mod:`seid.reproducers.dagster_run`), so the daemon stays responsive and the
run can be stopped whole; Dagster's own instance lives in ``.sei/dagster``. What ran, the
code versions, the metrics and the asset checks are read from Dagster's events.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from seid.drift import Drift
from seid.errors import InputError, SeidError
from seid.evidence import jcs_sha256
from seid.fsutil import sei_dir, write_atomic
from seid.metrics_file import Metric, is_number, read_flat_metrics
from seid.reproducers.base import Plan, Stage, changed_inputs, dist_version
from seid.reproducers.execute import run_logged
from seid.reproducers.result import RunResult, file_subjects, from_outcome, tool_env

if TYPE_CHECKING:
    import threading

    from seid.config.model import Pipeline
    from seid.snapshot import Snapshot

RECORD_KEY = "code_versions"
# seid's private Dagster instance: local storage, and nothing sent anywhere.
INSTANCE_YAML = "telemetry:\n  enabled: false\n"


class DagsterReproducer:
    """Plans from the asset graph of the project's Dagster definitions."""

    name: ClassVar[str] = "dagster"
    registry: ClassVar[bool] = False

    def __init__(self, root: Path, pipeline: Pipeline, previous: Mapping[str, Any] | None) -> None:
        self.root = root
        self.pipeline = pipeline
        recorded = ((previous or {}).get("pipeline") or {}).get(RECORD_KEY) or {}
        self.recorded: Mapping[str, str] = recorded

    @property
    def version(self) -> str | None:
        return dist_version("dagster")

    def plan(self, drift: Drift, snapshot: Snapshot) -> Plan:
        graph = self._asset_graph()
        keys = [k for k in graph.toposorted_asset_keys if k in graph.materializable_asset_keys]
        data = changed_inputs(drift, frozenset({"C"}))
        reasons: dict[Any, list[str]] = {}
        for key in keys:
            node = graph.get(key)
            own = self._code_reason(key.to_user_string(), node.code_version)
            if data and not (node.parent_keys & graph.materializable_asset_keys):
                own += list(data)
            if own:
                reasons[key] = own + reasons.get(key, [])
            if key in reasons:
                for child in node.child_keys:
                    reasons.setdefault(child, []).append(f"downstream of {key.to_user_string()}")
        stale = tuple(Stage(k.to_user_string(), tuple(reasons[k])) for k in keys if k in reasons)
        cached = tuple(k.to_user_string() for k in keys if k not in reasons)
        return Plan(self.name, stale=stale, cached=cached)

    def reproduce(
        self,
        plan: Plan,
        snapshot: Snapshot,
        log: Path,
        *,
        echo: bool | None = None,
        stop: threading.Event | None = None,
    ) -> RunResult:
        """Materialise the plan's stale assets, and only those, in a Dagster subprocess.

        The assets run and their code versions come from Dagster's materialisation
        events, not from the plan; the runner's report sits beside the log. Dagster keeps
        no lock file: what pins the assets is their code versions, so the lock digest is
        the SHA-256 of their RFC 8785 canonical JSON, and equal digests mean the same
        asset code.
        """
        if not plan.stale and not plan.cached:
            # Planned without asking Dagster (a forced run with no B or C drift): Dagster's
            # answer now, as `dvc repro` decides for itself what is current.
            plan = self.plan(Drift(), snapshot)
        definitions = self._definitions()
        report_path = log.with_suffix(".dagster.json")
        report_path.unlink(missing_ok=True)  # never read a report an earlier run left
        argv = [
            sys.executable,
            "-m",
            "seid.reproducers.dagster_run",
            definitions,
            str(report_path),
            "--",
            *(stage.name for stage in plan.stale),
        ]
        env = tool_env({**snapshot.pins, "DAGSTER_HOME": str(self._instance_home())})
        outcome = run_logged(argv, self.root, log, env=env, echo=echo, stop=stop)
        report = _read_report(report_path)
        materialized: list[dict[str, Any]] = report.get("materialized", [])
        versions = self._code_versions(plan, report.get("assets"), materialized)
        fields: dict[str, Any] = {
            "stages_run": tuple(m["key"] for m in materialized),
            "stages_skipped": plan.cached,
            "lock_digest": jcs_sha256(versions),
            "artifacts": file_subjects(
                self.root, [self.pipeline.metrics, *self._named_paths(materialized, snapshot)]
            ),
            "details": {
                RECORD_KEY: versions,
                "run_id": report.get("run_id"),
                "asset_checks": {c["name"]: c["passed"] for c in report.get("checks", [])},
            },
        }
        if outcome.returncode == 0:
            ran = from_outcome(self.root, self.name, self.version, outcome, None, **fields)
            try:
                metrics = metadata_metrics(materialized)
            except InputError as exc:
                return replace(ran, error=f"metrics: {exc}")
            if metrics:
                return replace(ran, metrics=metrics)
        # No metrics in Dagster's record (nothing materialised them) or a failed run: the
        # metrics file, or the reason there is none.
        result = from_outcome(
            self.root, self.name, self.version, outcome, self.pipeline.metrics, **fields
        )
        reason = report.get("error")
        if result.error is not None and outcome.returncode != 0 and reason:
            result = replace(result, error=f"dagster: {reason}")
        return result

    def promote(self, result: RunResult) -> str | None:
        return None  # Dagster has no model registry

    def _instance_home(self) -> Path:
        """``.sei/dagster``: Dagster's instance for seid's runs, configured once.

        An existing ``dagster.yaml`` is the host's to tune (storage, say), so it is kept.
        """
        home = sei_dir(self.root, "dagster").resolve()
        with contextlib.suppress(FileExistsError):  # written before, or by a concurrent run
            write_atomic(home / "dagster.yaml", INSTANCE_YAML.encode(), replace=False)
        return home

    def _code_versions(
        self,
        plan: Plan,
        current: Iterable[str] | None,
        materialized: Iterable[Mapping[str, Any]],
    ) -> dict[str, str]:
        """``{asset: code_version}`` as it now stands, what the next plan compares with.

        A materialised asset has the version Dagster ran it with; any other keeps its
        recorded version, except one the plan found stale: it did not run, so its old
        evidence no longer holds and the next plan must find it stale again. Assets that
        left the definitions (``current``, unknown when they failed to load) drop out.
        """
        stale = {stage.name for stage in plan.stale}
        keep = set(current) if current is not None else set(self.recorded)
        versions = {k: v for k, v in self.recorded.items() if k in keep and k not in stale}
        versions.update({m["key"]: m["code_version"] for m in materialized if m["code_version"]})
        return dict(sorted(versions.items()))

    def _named_paths(
        self, materialized: Iterable[Mapping[str, Any]], snapshot: Snapshot
    ) -> list[str]:
        """Repo paths the materialisation metadata names (a model file, say): the run's
        outputs. Watched inputs (the data an asset read) and seid's or git's own state
        are not."""
        root = self.root.resolve()
        inputs = {path for paths in snapshot.inputs.values() for path in paths}
        found: list[str] = []
        for mat in materialized:
            for value in mat["metadata"].values():
                if not isinstance(value, str) or not value:
                    continue
                try:
                    path = (root / value).resolve()
                    rel = path.relative_to(root)
                    exists = path.exists()
                except (OSError, ValueError):  # not a path, or outside the repo
                    continue
                own = rel.parts[:1] in ((), (".git",), (".sei",))
                if exists and not own and rel.as_posix() not in inputs:
                    found.append(rel.as_posix())
        return found

    def _definitions(self) -> str:
        if not self.pipeline.definitions:
            raise InputError("sei.yaml", "pipeline.definitions: the Dagster definitions file")
        return self.pipeline.definitions

    def _code_reason(self, name: str, declared: str | None) -> list[str]:
        recorded = self.recorded.get(name)
        if declared is None:
            return ["declares no code_version, so Dagster cannot tell it is current"]
        if recorded is None:
            return [f"code_version {declared} never evidenced"]
        if recorded != declared:
            return [f"code_version {recorded} -> {declared}"]
        return []

    def _asset_graph(self) -> Any:
        return load_definitions(self.root, self.root / self._definitions())


def _read_report(path: Path) -> dict[str, Any]:
    """The runner's report; empty when it left none (killed, or crashed before writing)."""
    try:
        report = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def metadata_metrics(materialized: Iterable[Mapping[str, Any]]) -> dict[str, Metric]:
    """The metrics in the metadata of the last materialised asset that carries numbers.

    An entry ``<name>`` is a metric; ``<name>.ci_low``, ``.ci_high``, ``.ci_level``,
    ``.n`` and ``.method`` beside it are its power block (Dagster metadata is flat). They
    are read as a metrics file would be, so a NaN or a reversed interval is refused the
    same way. Dagster's own ``dagster/`` entries are not metrics. Empty when no asset
    carries any.
    """
    carrier: Mapping[str, Any] | None = None
    for mat in materialized:
        if any(is_number(v) for v in _own(mat["metadata"]).values()):
            carrier = mat
    if carrier is None:
        return {}
    return read_flat_metrics(
        _own(carrier["metadata"]), f"dagster metadata of asset {carrier['key']}"
    )


def _own(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if not k.startswith("dagster/")}


def load_definitions(root: Path, path: Path) -> Any:
    """The asset graph of the one ``Definitions`` object that ``path`` defines.

    The file is the project's own code and runs as Dagster would run it, with the repo
    root importable so it may import its sibling modules.
    """
    import dagster as dg

    tag = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(f"_seid_defs_{tag}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise InputError(path, "Dagster definitions file not found")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(root))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the project's code: any failure is the user's to fix
        raise SeidError(f"{path}: cannot load Dagster definitions: {exc}") from None
    finally:
        sys.path.remove(str(root))
    found = [v for v in vars(module).values() if isinstance(v, dg.Definitions)]
    if len(found) != 1:
        raise InputError(path, f"expected one dagster.Definitions object, found {len(found)}")
    return found[0].resolve_asset_graph()
