"""The loan scenario through real MLflow (SQLite store, seid:// artifact store).

What ran is read from MLflow's own record (the run's tags, its registry versions and
aliases), never from seid's report alone. The tests share one scenario repository and
run in order on one worker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from seid import evidence, keys
from seid.demo import apply_treatment, create
from seid.errors import SeidError
from seid.ledger.log import Ledger
from seid.ledger.verify import verify_repo
from seid.promote import promote
from seid.reproducers.mlflow import resolve_tracking_uri
from seid.run import RunReport, run
from tests.conftest import SeidRunner, decide, git

# `make test` distributes whole files (--dist loadfile), so this sequence stays together.
pytestmark = pytest.mark.slow

MODEL = "credit-scorer"


@pytest.fixture(scope="module")
def loan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    base = tmp_path_factory.mktemp("mlflow-loan")
    repo = create(base / "repo", "mlflow")
    key = keys.generate(base / "keys")
    keys.add_trusted(repo, key.public_path)
    return repo, keys.load_signer(key.private_path)


def _client(repo: Path) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(resolve_tracking_uri(repo, "sqlite:///mlflow.db"))


def _champion(repo: Path) -> str | None:
    version = _client(repo).get_registered_model(MODEL).aliases.get("champion")
    return None if version is None else str(version)


def _run_count(repo: Path) -> int:
    client = _client(repo)
    experiment = client.get_experiment_by_name(MODEL)
    return len(client.search_runs([experiment.experiment_id]))


def _statement(repo: Path, report: RunReport) -> dict[str, Any]:
    """The bundle as the ledger holds it."""
    assert report.attestation is not None
    with Ledger.open(repo, report.attestation.log_id) as ledger:
        return evidence.decode(ledger.entry(report.attestation.index))


def _predicate(repo: Path, report: RunReport) -> dict[str, Any]:
    predicate: dict[str, Any] = _statement(repo, report)["predicate"]
    return predicate


def test_v1_fails_and_nothing_is_promoted(loan: tuple[Path, Any]) -> None:
    repo, signer = loan
    report = run(repo, signer, force=True, echo=False)
    assert report.gate == "fail" and report.exit_code == 1
    assert report.promoted is None
    assert report.result is not None
    run_id = report.result.details["run_id"]
    mlrun = _client(repo).get_run(run_id)
    assert mlrun.info.status == "FINISHED"
    assert mlrun.data.tags["seid.stage.featurize"] == "ran"
    assert mlrun.data.tags["seid.git_commit"] == git(repo, "rev-parse", "HEAD").strip()
    # The metrics judged are MLflow's: value and interval from the run's own record
    dp = report.result.metrics["dp-gap"]
    assert dp.value == mlrun.data.metrics["dp-gap"] and dp.ci_low is not None
    assert dp.n == mlrun.data.metrics["dp-gap.n"] and dp.method == "bootstrap"
    pipeline = _predicate(repo, report)["pipeline"]
    assert pipeline["tool"] == "mlflow" and pipeline["version"]
    assert pipeline["run_id"] == run_id
    assert (pipeline["registered_model"], pipeline["model_version"]) == (MODEL, "1")
    assert pipeline["stages_run"] == ["evaluate", "featurize", "train"]
    assert _champion(repo) is None


def test_treatment_reuses_features_passes_and_promotes_once_approved(
    loan: tuple[Path, Any], tmp_path: Path, seid: SeidRunner
) -> None:
    repo, signer = loan
    apply_treatment(repo)
    report = run(repo, signer, echo=False)
    assert report.detection.drift.paths == {"B": ["train.py"]}
    assert report.result is not None
    tags = _client(repo).get_run(report.result.details["run_id"]).data.tags
    assert tags["seid.stage.featurize"] == "cached"  # MLflow's record, not seid's word
    assert report.result.stages_skipped == ("featurize",)
    assert report.gate == "pass" and report.exit_code == 0
    assert report.result.details["model_version"] == "2"
    # the scenario's approval policy holds the promotion until both roles grant
    assert report.awaiting_approval and report.promoted is None and _champion(repo) is None
    decide(repo, tmp_path, "owner", "request")
    decide(repo, tmp_path, "risk", "grant", role="model-risk-officer")
    with pytest.raises(SeidError, match="is approval_requested"):
        promote(repo, signer)  # one role of two
    decide(repo, tmp_path, "compliance", "grant", role="compliance-officer")
    operator = keys.generate(tmp_path / "operator")  # whoever runs the promotion signs it
    keys.add_trusted(repo, operator.public_path)
    done = seid("promote", "--key", operator.private_path, "--json", cwd=repo)
    assert done.code == 0, done.err
    promoted = json.loads(done.out)
    assert promoted["promoted"] == f"{MODEL} version 2 as champion"
    assert promoted["approval"] == "approved" and promoted["bundle"].endswith("#1")
    assert _champion(repo) == "2"
    # The stored model is bound into the bundle: its containers are subjects
    stored = [s for s in report.result.artifacts if s.name.startswith("seid://")]
    assert any(s.name.endswith("/MLmodel") for s in stored)
    subjects = {s["name"] for s in _statement(repo, report)["subject"]}
    assert {s.name for s in stored} <= subjects
    assert all(r.ok for r in verify_repo(repo, subjects=True))


def test_verify_catches_a_tampered_stored_model(loan: tuple[Path, Any]) -> None:
    repo, _ = loan
    models = sorted((repo / "mlartifacts").rglob("model.skops"))
    assert models
    target = models[-1]
    original = target.read_bytes()
    damaged = bytearray(original)
    damaged[-1] ^= 0x01
    target.write_bytes(bytes(damaged))
    try:
        problems = [p for r in verify_repo(repo, subjects=True) for p in r.problems]
        assert any("model.skops" in str(p) for p in problems), problems
    finally:
        target.write_bytes(original)
    assert all(r.ok for r in verify_repo(repo, subjects=True))


def test_criteria_change_starts_no_mlflow_run(loan: tuple[Path, Any]) -> None:
    repo, signer = loan
    runs = _run_count(repo)
    text = (repo / "sei.yaml").read_text()
    (repo / "sei.yaml").write_text(text.replace('constraint: "< 0.03"', 'constraint: "< 0.0001"'))
    git(repo, "commit", "-qam", "Criteria: tighten the parity gap")
    report = run(repo, signer, echo=False)
    assert report.detection.drift.classes == {"A"}
    assert report.result is not None and report.result.details.get("reassessed") is True
    assert report.gate == "fail" and report.attestation is not None
    assert _run_count(repo) == runs
    assert _champion(repo) == "2"  # a failing re-assessment never moves the alias
    git(repo, "revert", "--no-edit", "HEAD")
    assert run(repo, signer, echo=False).gate == "pass"
    assert _run_count(repo) == runs


def test_small_sample_is_inconclusive_and_not_promoted(loan: tuple[Path, Any]) -> None:
    repo, signer = loan
    before = _champion(repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["evaluate"]["sample"] = 400
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git(repo, "commit", "-qam", "Evaluate on a small sample")
    report = run(repo, signer, echo=False)
    assert report.assessment is not None
    verdicts = {v.measure: v.verdict for v in report.assessment.verdicts}
    assert verdicts["dp-gap"] == "inconclusive"
    assert report.gate == "inconclusive" and report.promoted is None
    assert report.result is not None
    assert int(report.result.details["model_version"]) > int(before or 0)
    assert _champion(repo) == before


def test_failing_entry_is_attested_as_error(loan: tuple[Path, Any]) -> None:
    repo, signer = loan
    before = _champion(repo)
    train = repo / "train.py"
    train.write_text(train.read_text() + "\nraise SystemExit('training diverged')\n")
    report = run(repo, signer, echo=False)
    assert report.gate == "error" and report.exit_code == 2
    assert report.promoted is None and _champion(repo) == before
    pipeline = _predicate(repo, report)["pipeline"]
    assert "exited with status 1" in pipeline["error"]
    assert _client(repo).get_run(pipeline["run_id"]).info.status == "FAILED"
    assert "training diverged" in (repo / pipeline["log"]).read_text()
    git(repo, "checkout", "train.py")


def test_data_change_reruns_featurize(loan: tuple[Path, Any]) -> None:
    import subprocess
    import sys

    repo, signer = loan
    subprocess.run([sys.executable, "generate_data.py", "--seed", "7"], cwd=repo, check=True)
    report = run(repo, signer, echo=False)
    assert "data/credit.csv" in report.detection.drift.paths["C"]
    assert report.result is not None and report.result.error is None
    tags = _client(repo).get_run(report.result.details["run_id"]).data.tags
    assert tags["seid.stage.featurize"] == "ran"
    assert report.result.stages_skipped == ()


def test_reexecute_reproduces_hermetically(loan: tuple[Path, Any]) -> None:
    """``seid reconstruct --reexecute`` runs the MLflow entry again in a worktree, with
    its own store there: the team's tracking store gains no run."""
    from seid.replay.history import walk
    from seid.replay.join import join
    from seid.replay.reexecute import reexecute

    repo, signer = loan
    git(repo, "commit", "-qam", "Data: a new sample of applicants")
    # The data were evidenced dirty; the commit changes no input, so the bundle that
    # stands on this commit comes from a forced run.
    assert run(repo, signer, force=True, echo=False).gate is not None
    runs = _run_count(repo)
    history = walk(repo)
    [result] = reexecute(repo, history, join(repo, history), 1)
    assert result.status == "reproduced", result
    assert {c.measure for c in result.metrics} >= {"dp-gap"}
    assert _run_count(repo) == runs
