"""Sidecar registry audit against a real `mlflow server` (SQLite store) on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from securesystemslib.signer import Signer  # type: ignore[attr-defined]

from seid import attest, evidence, keys
from seid.daemon import sidecar as sidecar_module
from seid.daemon.config import DaemonConfig, Sidecar
from seid.daemon.runner import ledger_size
from seid.daemon.scheduler import jobs
from seid.daemon.service import Service
from seid.daemon.sidecar import Auditor, ledger_statements
from seid.registry import FINDING_PREDICATE, WITHOUT_APPROVAL
from seid.replay.schema import problems
from tests.conftest import SeidRunner, decide, git, stop_group
from tests.daemon.conftest import wait_until

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@pytest.fixture
def mlflow_server(tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "mlflow.log").open("w")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--default-artifact-root",
            (tmp_path / "artifacts").as_uri(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: _up(url) or proc.poll() is not None, timeout=120, what="mlflow server")
        assert proc.poll() is None, (tmp_path / "mlflow.log").read_text()
        yield url
    finally:
        stop_group(proc)


def _bundle(repo: Path, signer: Signer, **pipeline: str) -> None:
    """A passing evidence bundle whose pipeline names a model version (as the mlflow tool's do)."""
    subject = evidence.subject_for_file(repo / "sei.yaml", repo)
    attest.append(repo, signer, [subject], {"gate": "pass", "pipeline": pipeline})


def test_champion_without_passing_bundle_is_a_finding(
    mlflow_server: str,
    project: tuple[Path, Path],
    seid: SeidRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow import MlflowClient

    repo, key = project
    signer = keys.load_signer(key)
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    experiment = client.create_experiment("credit")
    runs = [client.create_run(experiment).info.run_id for _ in range(3)]
    client.create_registered_model("credit-scorer")
    for run_id in runs:
        client.create_model_version("credit-scorer", f"runs:/{run_id}/model", run_id=run_id)
    client.create_registered_model("unaliased")  # no champion: nothing to audit
    auditor = Auditor(Sidecar(mlflow_server, repo))
    reads: list[Path] = []
    real_read = sidecar_module.read_facts
    monkeypatch.setattr(
        sidecar_module, "read_facts", lambda root: reads.append(root) or real_read(root)
    )

    client.set_registered_model_alias("credit-scorer", "champion", "1")
    ((found, kind),) = auditor.audit(signer)
    assert (found.model, found.version, found.run_id) == ("credit-scorer", "1", runs[0])
    assert kind == "promoted-without-passing-evidence"
    (finding,) = ledger_statements(repo, FINDING_PREDICATE)
    assert finding["predicate"]["kind"] == "promoted-without-passing-evidence"
    assert finding["subject"][0]["name"] == "models:/credit-scorer/1"
    assert len(auditor.audit(signer)) == 1 and ledger_size(repo) == 1  # attested once
    assert len(reads) == 2  # the finding changed the log: read again
    assert len(auditor.audit(signer)) == 1 and len(reads) == 2  # nothing changed: not read
    r = seid("reconstruct", cwd=repo)  # the auditor's report carries what the sidecar saw
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert problems(doc) == [] and doc["ledger"]["other_statements"] == 0
    [seen] = [f for f in doc["findings"] if f["kind"] == "promoted-without-passing-evidence"]
    assert seen["summary"].startswith("models:/credit-scorer/1 held the alias champion")

    _bundle(repo, signer, registered_model="credit-scorer", model_version="2")
    client.set_registered_model_alias("credit-scorer", "champion", "2")
    assert auditor.audit(signer) == []  # matched by registered model + version
    assert len(reads) == 3

    _bundle(repo, signer, run_id=runs[2])
    client.set_registered_model_alias("credit-scorer", "champion", "3")
    assert auditor.audit(signer) == [] and len(reads) == 4  # matched by run id
    assert ledger_size(repo) == 3  # one finding, two bundles
    with (repo / "sei.yaml").open("a") as manifest:
        manifest.write("approval:\n  expires: P30D\n")
    ((found, kind),) = auditor.audit(signer)  # a new policy, no new entry: judged anew
    assert (found.version, kind) == ("3", WITHOUT_APPROVAL) and len(reads) == 5


def test_under_a_policy_a_champion_needs_approved_evidence(
    mlflow_server: str, project: tuple[Path, Path], tmp_path: Path
) -> None:
    """Moving the alias in the registry past the approval is a finding; a newer bundle
    (which supersedes the lifecycle) does not make the approved champion unapproved."""
    from mlflow import MlflowClient

    repo, key = project
    with (repo / "sei.yaml").open("a") as manifest:
        manifest.write("approval:\n  expires: P30D\n")
    git(repo, "commit", "-qam", "approval policy")
    signer = keys.load_signer(key)
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    run_id = client.create_run(client.create_experiment("credit")).info.run_id
    client.create_registered_model("credit-scorer")
    for _ in range(2):
        client.create_model_version("credit-scorer", f"runs:/{run_id}/model", run_id=run_id)
    auditor = Auditor(Sidecar(mlflow_server, repo))  # one, as the daemon keeps it

    _bundle(repo, signer, registered_model="credit-scorer", model_version="1")
    client.set_registered_model_alias("credit-scorer", "champion", "1")
    ((found, kind),) = auditor.audit(signer)
    assert (found.version, kind) == ("1", WITHOUT_APPROVAL)
    (finding,) = ledger_statements(repo, FINDING_PREDICATE)
    assert finding["predicate"]["kind"] == WITHOUT_APPROVAL

    decide(repo, tmp_path, "alice", "request")
    decide(repo, tmp_path, "bob", "grant")
    assert auditor.audit(signer) == []
    _bundle(repo, signer, registered_model="credit-scorer", model_version="2")
    assert auditor.audit(signer) == []  # version 1 was approved; superseded is not undone
    client.set_registered_model_alias("credit-scorer", "champion", "2")
    ((found, kind),) = auditor.audit(signer)
    assert (found.version, kind) == ("2", WITHOUT_APPROVAL)


def test_the_daemon_job_keeps_its_auditor_between_runs(
    mlflow_server: str, project: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    repo, key = project
    config = DaemonConfig(sidecar=Sidecar(mlflow_server, repo))
    service = Service(config, keys.load_signer(key))
    [job] = [run for name, _, run in jobs(service) if name == "registry-audit"]
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    run_id = client.create_run(client.create_experiment("credit")).info.run_id
    client.create_registered_model("credit-scorer")
    client.create_model_version("credit-scorer", f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias("credit-scorer", "champion", "1")
    reads: list[Path] = []
    real_read = sidecar_module.read_facts
    monkeypatch.setattr(
        sidecar_module, "read_facts", lambda root: reads.append(root) or real_read(root)
    )
    for _ in range(3):
        job()
    assert len(list(ledger_statements(repo, FINDING_PREDICATE))) == 1  # attested once
    assert len(reads) == 2  # at the first run, and after its finding changed the log
