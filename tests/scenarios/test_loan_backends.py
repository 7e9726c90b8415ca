"""The loan scenario's MLflow entry, Dagster definitions and Croissant description, run
for real (MLflow on a SQLite store, Dagster on a temporary instance)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seid.evidence import file_sha256

LOAN = Path(__file__).resolve().parents[2] / "seid" / "scenarios" / "loan"
pytestmark = pytest.mark.slow

SCRIPTS = (
    "generate_data.py",
    "featurize.py",
    "train.py",
    "compliance_eval.py",
    "describe_data.py",
    "dagster_defs.py",
    "params.yaml",
    "sei.yaml",
)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("loan")
    for name in SCRIPTS:
        shutil.copy(LOAN / name, work / name)
    shutil.copytree(LOAN / "eval", work / "eval")
    subprocess.run([sys.executable, "generate_data.py"], cwd=work, check=True)
    return work


def test_croissant_names_the_data_by_digest(scenario: Path) -> None:
    subprocess.run([sys.executable, "describe_data.py"], cwd=scenario, check=True)
    doc = json.loads((scenario / "credit.croissant.json").read_text())
    (dist,) = doc["distribution"]
    assert dist["sha256"] == file_sha256(scenario / "data" / "credit.csv")
    import mlcroissant as mlc

    dataset = mlc.Dataset(str(scenario / "credit.croissant.json"))
    first = next(iter(dataset.records("applicants")))
    assert first["applicants/applicant_id"] == 1
    assert {"applicants/sex", "applicants/personal_status"} <= set(first)


def test_mlflow_entry_logs_registers_and_caches_featurize(scenario: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{scenario / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    outputs = []
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "eval/mlflow_entry.py"],
            cwd=scenario,
            check=True,
            env=env,
            capture_output=True,
            text=True,
        )
        outputs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    client = MlflowClient(uri)
    runs = [client.get_run(out["run_id"]) for out in outputs]
    # MLflow's own record says what ran: featurize only the first time
    assert [r.data.tags["seid.stage.featurize"] for r in runs] == ["ran", "cached"]
    assert {r.data.tags["seid.stage.train"] for r in runs} == {"ran"}
    assert runs[0].data.metrics["dp-gap"] > 0.03  # V1 keeps the protected attribute
    assert runs[0].data.metrics["dp-gap.n"] == 18000
    assert [out["version"] for out in outputs] == [1, 2]


def test_dagster_code_versions_and_gate_check(scenario: Path, tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    probe = (
        "import importlib.util, json\n"
        "from dagster import AssetSelection, DagsterInstance, materialize\n"
        "spec = importlib.util.spec_from_file_location('d', 'dagster_defs.py')\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "res = materialize([*m.defs.assets, *m.defs.asset_checks],"
        " instance=DagsterInstance.get(), selection=AssetSelection.all())\n"
        "checks = [e.event_specific_data.passed for e in res.all_events"
        " if e.event_type_value == 'ASSET_CHECK_EVALUATION']\n"
        "print(json.dumps({'ok': res.success, 'checks': checks,"
        " 'versions': [m.FEATURES_VERSION, m.MODEL_VERSION]}))\n"
    )

    def run() -> dict[str, object]:
        proc = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=scenario,
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "DAGSTER_HOME": str(home)},
        )
        return json.loads(proc.stdout.strip().splitlines()[-1])

    v1 = run()
    assert v1["ok"] and v1["checks"] == [False]
    shutil.copy(LOAN / "treatments" / "v2" / "train.py", scenario / "train.py")
    v2 = run()
    assert v2["checks"] == [True]
    # the treatment moved the model's code version and left the features' alone
    assert v1["versions"][0] == v2["versions"][0]
    assert v1["versions"][1] != v2["versions"][1]
