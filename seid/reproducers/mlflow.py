"""MLflow: the project's entry script or MLproject entry point is one unit of work.

MLflow has no stage graph and no notion of a stale run, so the whole entry is stale when
any treatment or data input changed. Planning never imports mlflow.

To find exactly the run it started, seid opens the run itself (tagged with the commit it
ran at) and hands its id to the entry through ``MLFLOW_RUN_ID``, which
``mlflow.start_run()`` and ``mlflow run --run-id`` both resume. Metrics are read back
from that run with ``MlflowClient``: the tracker's record, not a file beside it. An
entry may say which of its steps it re-ran and which it reused by tagging the run
``seid.stage.<name> = ran | cached``; that tag is MLflow's own account of what ran.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlparse

from seid.container import store
from seid.errors import SeidError, VerificationError
from seid.evidence import Subject
from seid.metrics_file import read_flat_metrics
from seid.reproducers.base import Plan, WholeEntryReproducer
from seid.reproducers.execute import Interrupted, run_logged
from seid.reproducers.result import RunResult, from_outcome, tool_env

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from seid.snapshot import Snapshot

STAGE_TAG = "seid.stage."
CHAMPION = "champion"


class MlflowReproducer(WholeEntryReproducer):
    """The MLflow entry is stale when any B or C input changed."""

    name: ClassVar[str] = "mlflow"
    dist: ClassVar[str | None] = "mlflow"
    registry: ClassVar[bool] = True

    @property
    def entry(self) -> str:
        return self.pipeline.entry or "main"

    @property
    def tracking_uri(self) -> str:
        return resolve_tracking_uri(self.root, self.pipeline.tracking_uri)

    def reproduce(
        self,
        plan: Plan,
        snapshot: Snapshot,
        log: Path,
        *,
        echo: bool | None = None,
        stop: threading.Event | None = None,
    ) -> RunResult:
        """Open the run, let the entry fill it, read metrics and models back from MLflow."""
        client = self._client()
        run_id = self._open_run(client, snapshot)
        env = {"MLFLOW_TRACKING_URI": self.tracking_uri, "MLFLOW_RUN_ID": run_id}
        env["MLFLOW_EXPERIMENT_NAME"] = self.pipeline.experiment
        if self.pipeline.registered_model:
            env["SEID_REGISTERED_MODEL"] = self.pipeline.registered_model
        try:
            argv = self._argv(run_id)
            outcome = run_logged(
                argv, self.root, log, env=tool_env({**snapshot.pins, **env}), echo=echo, stop=stop
            )
        except Interrupted:
            client.set_terminated(run_id, "KILLED")
            raise
        result = from_outcome(
            self.root,
            self.name,
            self.version,
            outcome,
            None,
            stages_run=(self.entry,),
            details={"run_id": run_id, "tracking_uri": self.pipeline.tracking_uri},
        )
        if result.error is not None:
            _end_if_running(client, run_id)
            return result
        try:
            return self._read_back(client, run_id, result)
        except SeidError as exc:
            return replace(result, metrics={}, error=str(exc))

    def promote(self, result: RunResult) -> str | None:
        """Point ``champion`` at the version this run registered (after a passing gate)."""
        model, version = result.details.get("registered_model"), result.details.get("model_version")
        if not model or not version:
            return None
        self._client().set_registered_model_alias(model, CHAMPION, str(version))
        return f"{model} version {version} as {CHAMPION}"

    def _argv(self, run_id: str) -> list[str]:
        """A script runs under seid's interpreter; anything else is an MLproject entry point."""
        if PurePosixPath(self.entry).suffix == ".py":
            return [sys.executable, self.entry]
        return [
            *(sys.executable, "-m", "mlflow", "run", "."),
            *("--entry-point", self.entry, "--env-manager", "local", "--run-id", run_id),
        ]

    def _client(self) -> MlflowClient:
        import logging

        from mlflow import MlflowClient

        # A new SQLite store announces its schema migration at INFO: not seid's news.
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
        return MlflowClient(tracking_uri=self.tracking_uri)

    def _open_run(self, client: MlflowClient, snapshot: Snapshot) -> str:
        """A new run in the configured experiment (created, with its store, if absent)."""
        from mlflow.exceptions import MlflowException

        name = self.pipeline.experiment
        try:
            found = client.get_experiment_by_name(name)
            if found is not None:
                experiment_id = found.experiment_id
            else:
                location = self._artifact_location()
                experiment_id = client.create_experiment(name, artifact_location=location)
            tags = {"seid.git_commit": snapshot.commit or "", "seid.dirty": str(snapshot.dirty)}
            run = client.create_run(experiment_id, tags={k: v for k, v in tags.items() if v})
        except MlflowException as exc:
            raise SeidError(f"mlflow ({self.pipeline.tracking_uri}): {exc.message}") from None
        run_id: str = run.info.run_id
        return run_id

    def _artifact_location(self) -> str | None:
        """A repo directory becomes a verified ``seid://`` store; a URI is used as given."""
        location = self.pipeline.artifact_location
        if location is None or "://" in location:
            return location
        return store.uri_of(self.root / location)

    def _read_back(self, client: MlflowClient, run_id: str, result: RunResult) -> RunResult:
        """Metrics, stages, registered version and stored artifacts: MLflow's record of it."""
        run = client.get_run(run_id)
        where = f"mlflow run {run_id}"
        if not run.data.metrics:
            raise SeidError(f"{where} logged no metrics")
        # Metrics are numbers only; an interval's method travels as a `<id>.method` tag.
        methods = {k: v for k, v in run.data.tags.items() if k.endswith(".method")}
        metrics = read_flat_metrics({**run.data.metrics, **methods}, where)
        ran, cached = _stages(run.data.tags)
        details: dict[str, Any] = {**result.details, "experiment_id": run.info.experiment_id}
        details.update(self._registered(client, run_id))
        models = _logged_models(client, run.info.experiment_id, run_id)
        locations = [run.info.artifact_uri, *models.values()]
        if models:
            details["logged_models"] = sorted(models)
        return replace(
            result,
            metrics=metrics,
            stages_run=ran or result.stages_run,
            stages_skipped=cached,
            artifacts=stored_subjects(locations),
            details=details,
        )

    def _registered(self, client: MlflowClient, run_id: str) -> dict[str, str]:
        """The registry version this run created under ``pipeline.registered_model``."""
        name = self.pipeline.registered_model
        if not name:
            return {}
        versions = [
            v for v in client.search_model_versions(f"run_id = '{run_id}'") if v.name == name
        ]
        if not versions:
            raise SeidError(f"mlflow run {run_id} registered no version of model {name!r}")
        newest = max(versions, key=lambda v: int(v.version))
        return {"registered_model": name, "model_version": str(newest.version)}


def resolve_tracking_uri(root: Path, uri: str) -> str:
    """A relative SQLite path is the repo's, whatever directory seid runs from."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + (root / uri[len(prefix) :]).resolve().as_posix()
    return uri


DESTINATION_ENV = "SEID_ARTIFACTS_DESTINATION"


def stored_subjects(locations: list[str]) -> tuple[Subject, ...]:
    """Every artifact kept in a verified ``seid://`` store under ``locations``, as subjects.

    Each is named by its ``seid://`` URI, so ``seid verify --subjects`` decodes the
    container and checks the bytes against this digest. Behind ``mlflow server
    --artifacts-destination seid:///...`` a run's artifacts are ``mlflow-artifacts:``
    URIs; :data:`DESTINATION_ENV` names that destination (the same volume, mounted at the
    same path) so they are bound too. Other stores (MLflow's own) are not bound: seid
    cannot tell their bytes were not changed.
    """
    found: dict[str, Subject] = {}
    for location in locations:
        try:
            base = store.path_of(_through_proxy(location))
        except ValueError:
            continue
        for artifact in store.iter_artifacts(base) if base.is_dir() else ():
            name = store.uri_of(artifact)
            try:
                found[name] = Subject(name, store.stored_digest(artifact, name))
            except VerificationError as exc:
                raise SeidError(f"the run's own artifact store: {exc}") from None
    return tuple(found[name] for name in sorted(found))


def _through_proxy(location: str) -> str:
    """``mlflow-artifacts:[//host]/path`` as the ``seid://`` URI the server stores it at."""
    destination = os.environ.get(DESTINATION_ENV)
    parsed = urlparse(location)
    if parsed.scheme != "mlflow-artifacts" or not destination:
        return location
    return f"{destination.rstrip('/')}/{parsed.path.lstrip('/')}"


def _stages(tags: dict[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The steps the entry says it ran and reused (``seid.stage.<name>`` tags)."""
    marks = {k[len(STAGE_TAG) :]: v for k, v in tags.items() if k.startswith(STAGE_TAG)}
    ran = tuple(sorted(k for k, v in marks.items() if v == "ran"))
    cached = tuple(sorted(k for k, v in marks.items() if v == "cached"))
    return ran, cached


def _logged_models(client: MlflowClient, experiment_id: str, run_id: str) -> dict[str, str]:
    """MLflow 3 keeps a logged model outside the run's artifacts: id -> its location."""
    found = client.search_logged_models(
        experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run_id}'"
    )
    return {model.model_id: model.artifact_location for model in found}


def _end_if_running(client: MlflowClient, run_id: str) -> None:
    """An entry that died left its run RUNNING; mark it failed, as MLflow would."""
    if client.get_run(run_id).info.status == "RUNNING":
        client.set_terminated(run_id, "FAILED")
