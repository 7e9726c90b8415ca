"""The loan scenario's own scripts, run for real: the numbers the demo's story rests on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seid.claims import load_claim
from seid.evidence import file_sha256

LOAN = Path(__file__).resolve().parents[2] / "seid" / "scenarios" / "loan"
pytestmark = pytest.mark.slow


def _run(workdir: Path, script: str) -> None:
    subprocess.run([sys.executable, script], cwd=workdir, check=True, timeout=300)


def _dp_gap(workdir: Path) -> dict[str, float]:
    _run(workdir, "train.py")
    _run(workdir, "compliance_eval.py")
    metrics = json.loads((workdir / "metrics.json").read_text())
    gap = metrics["dp-gap"]
    return {"value": gap["value"], **gap["power"]}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("loan")
    for name in ("generate_data.py", "featurize.py", "train.py", "compliance_eval.py"):
        shutil.copy(LOAN / name, work / name)
    shutil.copy(LOAN / "params.yaml", work / "params.yaml")
    _run(work, "generate_data.py")
    _run(work, "featurize.py")
    return work


def test_data_is_deterministic_and_is_the_claimed_dataset(workdir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.csv"
    subprocess.run(
        [sys.executable, "generate_data.py", "--out", str(again)], cwd=workdir, check=True
    )
    assert again.read_bytes() == (workdir / "data" / "credit.csv").read_bytes()
    # the pre-registered claim names exactly these bytes
    claim = load_claim(LOAN / "claims" / "loan-fairness.prml.yaml")
    assert file_sha256(again) == claim.dataset_hash


def test_v1_fails_and_v2_passes_with_its_whole_interval(workdir: Path) -> None:
    v1 = _dp_gap(workdir)
    assert v1["value"] > 0.1 and v1["ci_low"] > 0.03
    shutil.copy(LOAN / "treatments" / "v2" / "train.py", workdir / "train.py")
    v2 = _dp_gap(workdir)
    assert v2["ci_high"] < 0.03 and v2["value"] < v2["ci_high"]
    accuracy = json.loads((workdir / "metrics.json").read_text())["accuracy-floor"]["value"]
    assert accuracy >= 0.70


def test_small_subsample_straddles_the_threshold(workdir: Path) -> None:
    shutil.copy(LOAN / "treatments" / "v2" / "train.py", workdir / "train.py")
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["evaluate"]["sample"] = 400
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    try:
        gap = _dp_gap(workdir)
    finally:
        shutil.copy(LOAN / "params.yaml", workdir / "params.yaml")
    assert gap["n"] == 400
    assert gap["ci_low"] < 0.03 < gap["ci_high"]
