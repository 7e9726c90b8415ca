"""``seid analyze`` run for real on the shipped loan manifest."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from tests.conftest import ROOT, SeidRunner, assert_one_line_error

LOAN_MANIFEST = ROOT / "seid" / "scenarios" / "loan" / "sei.yaml"


def _project(tmp_path: Path) -> Path:
    shutil.copy(LOAN_MANIFEST, tmp_path / "sei.yaml")
    (tmp_path / "src").mkdir()
    return tmp_path


def test_analyze_prints_the_table_from_a_subdirectory(seid: SeidRunner, tmp_path: Path) -> None:
    project = _project(tmp_path)
    result = seid("analyze", cwd=project / "src")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "risk", "likelihood", "dimension", "impact", "appetite", "inherent", "residual",
        "treatment",
    ]  # fmt: skip
    first = lines[1].split()
    assert first[:3] == ["unfair-credit-exclusion", "LIKELY", "->"]
    assert "HIGH (exceeds)" in lines[1] and "MEDIUM (within)" in lines[1]
    assert lines[1].rstrip().endswith("required")
    assert lines[2].split()[0] == "society"  # same risk, next dimension: name left blank
    # plain when piped: no colour codes, no box drawing, no padding at line ends
    assert not any("\x1b[" in line or "│" in line or line != line.rstrip() for line in lines)
    assert lines[-1] == (
        "overall residual risk: MEDIUM (within) against criterion MEDIUM; contributing: "
        "unfair-credit-exclusion, performance-drift, automation-bias"
    )


def test_analyze_json_is_the_evidence_shape(seid: SeidRunner, tmp_path: Path) -> None:
    result = seid("analyze", "--json", cwd=_project(tmp_path))
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["manifest"] == "sei.yaml"
    assert document["manifest_digest"] == hashlib.sha256(LOAN_MANIFEST.read_bytes()).hexdigest()
    by_id = {risk["risk_id"]: risk for risk in document["risk_analysis"]}
    assert list(by_id) == ["unfair-credit-exclusion", "performance-drift", "automation-bias"]
    drift = by_id["performance-drift"]
    assert drift["requires_treatment"] is False
    assert [d["inherent_level"] for d in drift["dimensions"]] == ["MEDIUM", "HIGH"]
    assert [d["residual_level"] for d in drift["dimensions"]] == ["LOW", "MEDIUM"]
    assert by_id["automation-bias"]["inherent_overall"] == "HIGH"
    assert document["overall_residual"]["evaluation"] == "within"


def test_analyze_without_a_manifest_is_one_line(seid: SeidRunner, tmp_path: Path) -> None:
    assert_one_line_error(seid("analyze", cwd=tmp_path), "no sei.yaml or venth.yaml")
