"""The loan scenario end to end through real DVC: each drift class re-runs what it should,
checked against DVC's own record (its output and the files it did or did not rewrite)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seid import keys
from seid.demo import Step, apply_treatment, create, walkthrough
from seid.run import run
from tests.conftest import SeidRunner, git

# The two scenario states below are built once per worker (`make test` keeps a file on one
# worker); every test works on its own copy of one, so the tests pass alone, together, on
# any worker and in any order.
pytestmark = pytest.mark.slow

Loan = tuple[Path, object]


@pytest.fixture(scope="module")
def _created(tmp_path_factory: pytest.TempPathFactory) -> Loan:
    """The scenario as ``seid demo`` creates it, before any run (never changed: copied)."""
    base = tmp_path_factory.mktemp("loan-created")
    repo = create(base / "repo", "dvc")
    key = keys.generate(base / "keys")
    keys.add_trusted(repo, key.public_path)
    return repo, keys.load_signer(key.private_path)


@pytest.fixture(scope="module")
def _treated(_created: Loan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's end state: V1 run (fails), V2 treatment committed and run (passes)."""
    template, signer = _created
    repo = _copy(template, tmp_path_factory.mktemp("loan-treated"))
    assert run(repo, signer, force=True, echo=False).gate == "fail"  # type: ignore[arg-type]
    apply_treatment(repo)
    assert run(repo, signer, echo=False).gate == "pass"  # type: ignore[arg-type]
    assert run(repo, signer, echo=False).status == "up-to-date"  # type: ignore[arg-type]
    return repo


def _copy(repo: Path, into: Path) -> Path:
    """The whole repository (git, DVC cache, ledger) as a new one at ``into/repo``."""
    return Path(shutil.copytree(repo, into / "repo", symlinks=True))


@pytest.fixture
def loan(_created: Loan, tmp_path: Path) -> Loan:
    """A fresh scenario of this test's own: no run yet."""
    template, signer = _created
    return _copy(template, tmp_path), signer


@pytest.fixture
def treated(_created: Loan, _treated: Path, tmp_path: Path) -> Loan:
    """A scenario of this test's own after V1 and V2: gate passing, ledger up to date."""
    return _copy(_treated, tmp_path), _created[1]


def _mtimes(repo: Path, folder: str) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (repo / folder).iterdir()}


def test_v1_fails_then_treatment_reruns_only_evaluate(loan: Loan) -> None:
    repo, signer = loan
    first = run(repo, signer, force=True, echo=False)  # type: ignore[arg-type]
    assert first.gate == "fail"
    assert first.result is not None
    assert first.result.stages_run == ("featurize", "evaluate")
    features = _mtimes(repo, "features")
    model = _mtimes(repo, "model")

    apply_treatment(repo)
    second = run(repo, signer, echo=False)  # type: ignore[arg-type]
    assert second.detection.drift.paths == {"B": ["train.py"]}
    assert second.plan is not None and [s.name for s in second.plan.stale] == ["evaluate"]
    assert second.result is not None
    assert second.result.stages_run == ("evaluate",)
    assert "featurize" in second.result.stages_skipped
    assert _mtimes(repo, "features") == features  # DVC did not rewrite them
    assert _mtimes(repo, "model") != model
    assert second.gate == "pass"
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert second.result.lock_digest is not None
    assert {"features", "model"} <= {o["path"] for s in lock["stages"].values() for o in s["outs"]}
    names = {s.name for s in second.result.artifacts}
    assert "model/model.pkl" in names and "features/train.npz" in names


def test_criteria_change_reruns_nothing(treated: Loan) -> None:
    repo, signer = treated
    lock_before = (repo / "dvc.lock").read_bytes()
    model = _mtimes(repo, "model")
    manifest = (
        (repo / "sei.yaml").read_text().replace('constraint: "< 0.03"', 'constraint: "< 0.0001"')
    )
    (repo / "sei.yaml").write_text(manifest)
    git(repo, "commit", "-qam", "Criteria: tighten the parity gap")
    report = run(repo, signer, echo=False)  # type: ignore[arg-type]
    assert report.detection.drift.classes == {"A"}
    assert report.result is not None and report.result.details.get("reassessed") is True
    assert report.assessment is not None
    assert report.gate == "fail"
    assert (repo / "dvc.lock").read_bytes() == lock_before
    assert _mtimes(repo, "model") == model
    git(repo, "revert", "--no-edit", "HEAD")
    assert run(repo, signer, echo=False).gate == "pass"  # type: ignore[arg-type]


def test_data_change_reruns_everything_downstream(treated: Loan) -> None:
    """Against the ledger's snapshot, the data file itself drifted (not only its pointer:
    before any bundle, git's HEAD is the baseline and git ignores DVC-managed data)."""
    repo, signer = treated
    subprocess.run([sys.executable, "generate_data.py", "--seed", "7"], cwd=repo, check=True)
    subprocess.run(
        [sys.executable, "-m", "dvc", "add", "-q", "data/credit.csv"], cwd=repo, check=True
    )
    report = run(repo, signer, echo=False)  # type: ignore[arg-type]
    assert "C" in report.detection.drift.classes
    assert "data/credit.csv" in report.detection.drift.paths["C"]
    assert report.result is not None
    assert report.result.stages_run == ("featurize", "evaluate")
    claims = report.attestation  # the claim names the original data by digest
    assert claims is not None


def test_small_sample_is_inconclusive(treated: Loan) -> None:
    repo, signer = treated
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["evaluate"]["sample"] = 400
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    report = run(repo, signer, echo=False)  # type: ignore[arg-type]
    assert report.assessment is not None
    verdicts = {v.measure: v.verdict for v in report.assessment.verdicts}
    assert verdicts["dp-gap"] == "inconclusive"
    assert report.gate == "inconclusive" and report.exit_code == 1


def test_demo_command_tells_the_story(tmp_path: Path, seid: SeidRunner) -> None:
    result = seid("demo", tmp_path / "demo", timeout=600)
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    v1 = next(line for line in lines if line.strip().startswith("V1"))
    v2 = next(line for line in lines if line.strip().startswith("V2"))
    assert "gate fail" in v1 and "gate pass" in v2
    assert "cached featurize" in v2 and "drift B;" in v2
    assert "subjects: ok" in result.out
    shown = seid("-C", tmp_path / "demo", "ledger", "show", "1")
    predicate = json.loads(shown.out)["statement"]["predicate"]
    assert predicate["gate"] == "pass"
    assert predicate["claims"][0]["verdict"] == "PASS"
    assert predicate["claims"][0]["dataset_matches"] is True
    # The next steps it ends with work as printed: the demo key signs the auditor's report.
    steps = lines[lines.index("next steps:") :]
    export = next(line.split()[1] for line in steps if line.strip().startswith("export"))
    name, _, key = export.partition("=")
    assert name == "SEID_SIGNING_KEY" and Path(key).is_file()
    assert any("seid reconstruct --format html --out audit/" in line for line in steps)
    report = seid(
        "reconstruct",
        "--format",
        "html",
        "--out",
        "audit/",
        cwd=tmp_path / "demo",
        extra_env={name: key},
    )
    assert report.code == 0, report.err
    assert (tmp_path / "demo" / "audit" / "reconstruct.html").is_file()
    assert (tmp_path / "demo" / "audit" / "reconstruct.json.sig").is_file()


def test_walkthrough_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("mine")
    steps: list[Step] = []
    with pytest.raises(Exception, match="not empty"):
        walkthrough(tmp_path, "dvc", steps.append)
    assert (tmp_path / "x").read_text() == "mine"


def test_demo_with_the_applications_in_a_delta_table(tmp_path: Path, seid: SeidRunner) -> None:
    """``seid demo --data delta``: V1 runs; an OPTIMIZE is reported and re-runs nothing;
    the appended applications are class C, re-run and attested with the new version; the
    newest bundle is reproduced by time travel; the ledger verifies."""
    result = seid("demo", tmp_path / "demo", "--data", "delta", timeout=600)
    assert result.code == 0, result.out + result.err
    lines = {line.split()[0]: line for line in result.out.splitlines() if line.strip()}
    assert "pinned applications v1" in lines["V1"] and "gate fail" in lines["V1"]
    assert "applications v1 -> v2: OPTIMIZE (no data change: not drift)" in lines["OPTIMIZE"]
    assert "up-to-date, nothing re-ran" in lines["OPTIMIZE"]
    assert "drift C; applications v1 -> v3: OPTIMIZE, WRITE append" in lines["append"]
    assert "pinned applications v3; ran featurize, evaluate" in lines["append"]
    assert lines["reexecute"].endswith("reproduced")
    shown = seid("-C", tmp_path / "demo", "ledger", "show", "1")
    recorded = json.loads(shown.out)["statement"]["predicate"]["tables"]["applications"]
    assert recorded["version"] == 3
    operations = [op["operation"] for op in recorded["operations_since_previous"]]
    assert operations == ["OPTIMIZE", "WRITE append"]
    # One more application: DVC cannot see it before the run rewrites the pins, seid can.
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    table = str(tmp_path / "demo" / "data" / "applications")
    last = DeltaTable(table).to_pyarrow_table().slice(0, 1)
    write_deltalake(table, pa.Table.from_pylist(last.to_pylist(), last.schema), mode="append")
    status = seid("-C", tmp_path / "demo", "status")
    assert status.code == 1
    assert "featurize\n    a pinned table moved (.sei/tables.json)" in status.out
    assert "seid run would re-run: featurize, evaluate" in status.out


def test_delta_data_needs_dvc(tmp_path: Path, seid: SeidRunner) -> None:
    result = seid("demo", tmp_path / "demo", "--data", "delta", "--tool", "mlflow")
    assert result.code == 2 and "--data delta runs with --tool dvc" in result.err
