"""The MLflow run context provider: claim tags on runs, in run and experiment scope."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from mlflow.tracking.context.registry import _run_context_provider_registry

import seid.mlflow
from seid.claims import load_claim
from seid.ledger.log import Ledger
from seid.mlflow_plugin.context import SeidRunContextProvider
from tests.conftest import ROOT, git
from tests.ledger.conftest import entry_maker, make_key

CLAIM = ROOT / "seid" / "scenarios" / "loan" / "claims" / "loan-fairness.prml.yaml"
MANIFEST = """\
version: seid/1
system: {name: credit-scorer, intended_purpose: consumer loan pre-screening}
pipeline: {tool: dvc, metrics: metrics.json}
claims: [claims/*.prml.yaml]
"""
DESCRIPTIVE = ("prml.version", "prml.metric", "prml.comparator", "prml.threshold")


@pytest.fixture
def project(repo: Path, env: dict[str, str]) -> Path:
    """A committed seid project: sei.yaml, one claim, a nested working directory."""
    (repo / "claims").mkdir()
    shutil.copy(CLAIM, repo / "claims" / CLAIM.name)
    (repo / "sei.yaml").write_text(MANIFEST)
    (repo / "src" / "train").mkdir(parents=True)
    git(repo, "add", ".", env=env)
    git(repo, "commit", "-q", "-m", "project", env=env)
    return repo


def run_tags(experiment: str | None = None) -> dict[str, str]:
    with mlflow.start_run(experiment_id=experiment) as run:
        pass
    tags: dict[str, str] = MlflowClient().get_run(run.info.run_id).data.tags
    return tags


def expected_tags(project: Path, env: dict[str, str]) -> dict[str, str]:
    claim = load_claim(project / "claims" / CLAIM.name)
    return {
        "prml.manifest_hash": claim.hash,
        "prml.manifest_path": f"claims/{CLAIM.name}",
        "prml.version": "prml/0.1",
        "prml.metric": "demographic_parity_diff",
        "prml.comparator": "<",
        "prml.threshold": "0.03",
        "prml.dataset_id": "loan-synthetic-credit-60k",
        "seid.manifest_digest": hashlib.sha256((project / "sei.yaml").read_bytes()).hexdigest(),
        "seid.git_commit": git(project, "rev-parse", "HEAD", env=env).strip(),
    }


def test_provider_is_registered_through_the_entry_point() -> None:
    assert any(isinstance(p, SeidRunContextProvider) for p in _run_context_provider_registry)


def test_run_scope_tags(
    tracking: str, project: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "src" / "train")
    tags = run_tags()
    expected = expected_tags(project, env)
    assert {k: tags.get(k) for k in expected} == expected
    assert "seid.ledger_head" not in tags  # no ledger yet


@pytest.mark.parametrize("variable", ["SEID_TAG_SCOPE", "MLFLOW_FALSIFY_TAG_SCOPE"])
def test_experiment_scope_tags_the_experiment_once(
    tracking: str,
    project: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    monkeypatch.chdir(project)
    monkeypatch.setenv(variable, "experiment")
    experiment = mlflow.create_experiment(f"scope-{variable}")
    expected = expected_tags(project, env)
    for _ in range(2):
        tags = run_tags(experiment)
        assert tags["prml.manifest_hash"] == expected["prml.manifest_hash"]
        assert tags["prml.manifest_path"] == expected["prml.manifest_path"]
        assert not any(k in tags for k in (*DESCRIPTIVE, "prml.dataset_id"))
    on_experiment = MlflowClient().get_experiment(experiment).tags
    assert {k: on_experiment.get(k) for k in DESCRIPTIVE} == {k: expected[k] for k in DESCRIPTIVE}
    mlflow.set_experiment(experiment_id=experiment)
    assert seid.mlflow.tag_experiment() == {}  # idempotent: nothing left to write


def test_tag_experiment_writes_only_what_is_missing(
    tracking: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    experiment = mlflow.create_experiment("explicit")
    MlflowClient().set_experiment_tag(experiment, "prml.metric", "stale")
    written = seid.mlflow.tag_experiment(experiment)
    assert written["prml.metric"] == "demographic_parity_diff"
    assert "prml.dataset_id" in written
    assert seid.mlflow.tag_experiment(experiment) == {}


def test_claim_only_directory(
    tracking: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "bare" / "deep"
    work.mkdir(parents=True)
    shutil.copy(CLAIM, tmp_path / "bare" / "prml.yaml")
    monkeypatch.chdir(work)
    tags = run_tags()
    assert tags["prml.manifest_path"] == "prml.yaml"
    assert tags["prml.manifest_hash"] == load_claim(CLAIM).hash
    assert "seid.manifest_digest" not in tags and "seid.git_commit" not in tags


def test_malformed_claim_gets_path_only_and_a_warning(
    tracking: str,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    claim = project / "claims" / CLAIM.name
    claim.write_text(CLAIM.read_text().replace("threshold: 0.03", "threshold: lots"))
    monkeypatch.chdir(project)
    with caplog.at_level(logging.WARNING):
        tags = run_tags()
    assert tags["prml.manifest_path"] == f"claims/{CLAIM.name}"
    assert not any(k in tags for k in ("prml.manifest_hash", *DESCRIPTIVE))
    assert "seid.git_commit" in tags
    assert any(CLAIM.name in r.getMessage() for r in caplog.records)


def test_edited_claim_is_read_again(
    tracking: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    first = run_tags()["prml.manifest_hash"]
    claim = project / "claims" / CLAIM.name
    claim.write_text(claim.read_text().replace("threshold: 0.03", "threshold: 0.05"))
    second = run_tags()
    assert second["prml.threshold"] == "0.05"
    assert second["prml.manifest_hash"] == load_claim(claim).hash != first


def test_ledger_head_is_tagged(
    tracking: str, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = make_key(tmp_path, project)
    make = entry_maker(signer)
    with Ledger.open(project, signer.public_key.keyid, create=True) as ledger:
        ledger.append(make(0), signer)
        ledger.append(make(1), signer)
        root = ledger.root().hex()
    monkeypatch.chdir(project)
    assert run_tags()["seid.ledger_head"] == f"{signer.public_key.keyid}@2:{root}"


def test_outside_a_project_nothing_is_added(
    tracking: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "plain").mkdir()
    monkeypatch.chdir(tmp_path / "plain")
    assert SeidRunContextProvider().in_context() is False
    assert not any(k.startswith(("prml.", "seid.")) for k in run_tags())


@pytest.mark.slow
@pytest.mark.parametrize("scope", ["run", "experiment"])
def test_tags_through_a_real_tracking_server(
    server_tracking: str,
    project: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    scope: str,
) -> None:
    monkeypatch.chdir(project / "src")
    if scope == "experiment":
        monkeypatch.setenv("SEID_TAG_SCOPE", "experiment")
    experiment = mlflow.create_experiment(f"server-{scope}")
    tags = run_tags(experiment)
    expected = expected_tags(project, env)
    on_experiment = MlflowClient().get_experiment(experiment).tags
    if scope == "run":
        assert {k: tags.get(k) for k in expected} == expected
        assert "prml.metric" not in on_experiment
    else:
        assert tags["prml.manifest_hash"] == expected["prml.manifest_hash"]
        assert "prml.metric" not in tags
        assert on_experiment["prml.metric"] == expected["prml.metric"]
