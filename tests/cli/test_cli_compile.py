"""``seid compile`` through the real CLI: what it prints, where it writes, its errors."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from tests.conftest import ROOT, SeidRunner, assert_one_line_error, git

LOAN = ROOT / "seid" / "scenarios" / "loan"


def committed_loan(repo: Path, env: dict[str, str]) -> Path:
    shutil.copy(LOAN / "sei.yaml", repo / "sei.yaml")
    git(repo, "add", "sei.yaml", env=env)
    git(repo, "commit", "-q", "-m", "risk program", env=env)
    return repo


def test_compile_prints_path_digest_and_tasks(
    seid: SeidRunner, repo: Path, env: dict[str, str]
) -> None:
    committed_loan(repo, env)
    (repo / "sub").mkdir()
    result = seid("compile", cwd=repo / "sub")
    assert result.code == 0, result.err
    plan = repo / "assessment_plan.oscal.yaml"
    digest = hashlib.sha256(plan.read_bytes()).hexdigest()
    lines = result.out.splitlines()
    assert (repo / "sub" / lines[0].removeprefix("wrote ")).resolve() == plan.resolve()
    assert lines[1] == f"digest sha256:{digest}"
    assert lines[2] == "tasks 4 (pre-market 3, post-market 1, manual 1) for 3 risks"
    assert "manifest-commit" in lines[3]


def test_compile_json_and_out(
    seid: SeidRunner, repo: Path, env: dict[str, str], tmp_path: Path
) -> None:
    committed_loan(repo, env)
    out = tmp_path / "plan.yaml"
    result = seid("compile", "--json", "--out", out, cwd=repo)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["path"] == str(out)
    assert report["digest"] == "sha256:" + hashlib.sha256(out.read_bytes()).hexdigest()
    assert (report["tasks"], report["risks"]) == (4, 3)
    assert not (repo / "assessment_plan.oscal.yaml").exists()


def test_compile_without_manifest_is_one_line(seid: SeidRunner, tmp_path: Path) -> None:
    assert_one_line_error(seid("compile", cwd=tmp_path), "no sei.yaml", "seid init")


def test_compile_bad_manifest_is_located(seid: SeidRunner, repo: Path) -> None:
    (repo / "sei.yaml").write_text(
        "version: seid/1\nsystem: {name: x}\npipeline: {tool: dvc}\nrisk: {apetite: {}}\n",
        "utf-8",
    )
    assert_one_line_error(seid("compile", cwd=repo), "sei.yaml:4:", "did you mean 'appetite'")
    assert not (repo / "assessment_plan.oscal.yaml").exists()
