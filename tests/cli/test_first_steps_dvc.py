"""First steps on a DVC project seid did not create, laid out as DVC's get-started example.

Its ``dvc.yaml`` declares metrics, plots and params at the top level (DVC 3 style), and
``data/data.xml`` is a ``.dvc`` pointer whose data is not here (a clone without ``dvc
pull``): ``dvc repro`` fails with DVC's own reason, which the run must show and record.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seid import keys
from seid.config import load_manifest
from seid.evidence import EVIDENCE_PREDICATE
from seid.ledger.newest import latest_statement
from tests.conftest import SeidRunner, assert_one_line_error, git

DVC_YAML = """\
stages:
  prepare:
    cmd: python src/prepare.py data/data.xml
    deps: [data/data.xml, src/prepare.py]
    params: [prepare.seed, prepare.split]
    outs: [data/prepared]
  train:
    cmd: python src/train.py data/prepared model.pkl
    deps: [data/prepared, src/train.py]
    params: [train.seed]
    outs: [model.pkl]
  evaluate:
    cmd: python src/evaluate.py model.pkl data/prepared
    deps: [data/prepared, model.pkl, src/evaluate.py]
    outs: [eval]
metrics:
- eval/metrics.json
plots:
- ROC:
    template: simple
    x: fpr
    y:
      eval/plots/sklearn/roc/train.json: tpr
      eval/plots/sklearn/roc/test.json: tpr
- eval/importance.png
params:
- eval/live/params.yaml
"""
MISSING_DATA = "failed to reproduce 'data/data.xml.dvc': missing data 'source'"


def dvc(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "DVC_IGNORE_UPDATES": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=env, check=True)


def get_started(repo: Path, env: dict[str, str], *, dvc_repo: bool = False) -> None:
    """The project's files; with ``dvc_repo`` a real DVC repo whose data was never pulled."""
    files = {
        "dvc.yaml": DVC_YAML,
        "params.yaml": "prepare: {seed: 20170428, split: 0.2}\ntrain: {seed: 1}\n",
        "src/prepare.py": "print('prepare')\n",
        "src/train.py": "print('train')\n",
        "src/evaluate.py": "print('evaluate')\n",
        "data/data.xml": "<posts/>\n",
    }
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    if dvc_repo:
        dvc(repo, "init", "-q")
        dvc(repo, "add", "-q", "data/data.xml")
        shutil.rmtree(repo / ".dvc" / "cache")  # as in a clone: the pointer, not the data
        (repo / "data/data.xml").unlink()
    else:
        (repo / "data/data.xml").unlink()
        (repo / "data/data.xml.dvc").write_text("outs:\n- md5: 0\n  path: data.xml\n")
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-qm", "get-started", env=env)


def test_init_takes_metrics_params_and_plots_from_dvc_yaml(
    seid: SeidRunner, repo: Path, env: dict[str, str]
) -> None:
    get_started(repo, env)
    result = seid("init", cwd=repo)
    assert result.code == 0, result.err
    assert "replace every EDIT placeholder" in result.out
    manifest = load_manifest(repo)
    assert manifest.pipeline.metrics == "eval/metrics.json"
    assert manifest.pipeline.params == "params.yaml"
    text = (repo / "sei.yaml").read_text()
    for plot in ("eval/importance.png", "eval/plots/sklearn/roc/test.json"):
        assert plot in text
    assert manifest.inputs is not None
    assert "data/data.xml.dvc" not in manifest.inputs.treatment
    assert not [glob for glob in manifest.inputs.data if glob.startswith("eval")]


def test_init_uses_a_params_file_dvc_yaml_names(
    seid: SeidRunner, repo: Path, env: dict[str, str]
) -> None:
    (repo / "dvc.yaml").write_text(
        "stages:\n  train:\n    cmd: python train.py\n    deps: [train.py]\n"
        "    params: [{conf/train.yaml: [lr]}]\n"
    )
    (repo / "train.py").write_text("print('train')\n")
    assert seid("init", cwd=repo).code == 0
    assert load_manifest(repo).pipeline.params == "conf/train.yaml"
    # A top-level params file is often one the pipeline writes (DVCLive's): not treatment.
    (repo / "dvc.yaml").write_text(
        "stages:\n  train:\n    cmd: python train.py\n    deps: [train.py]\n"
        "params: [dvclive/params.yaml]\n"
    )
    assert seid("init", "--force", cwd=repo).code == 0
    manifest = load_manifest(repo)
    assert manifest.pipeline.params is None
    assert manifest.inputs is not None and "dvclive/params.yaml" not in manifest.inputs.treatment


def _placeholders(text: str) -> list[tuple[int, int]]:
    """Where the starter's ``EDIT`` values begin, by line and column (1-based)."""
    return [
        (number, match.start(1) + 1)
        for number, line in enumerate(text.splitlines(), 1)
        if (match := re.search(r":\s+(EDIT\b)", line)) and not line.lstrip().startswith("#")
    ]


def test_analyze_and_compile_warn_about_each_placeholder_at_its_place(
    seid: SeidRunner, repo: Path, env: dict[str, str]
) -> None:
    get_started(repo, env)
    assert seid("init", cwd=repo).code == 0
    expected = _placeholders((repo / "sei.yaml").read_text())
    assert len(expected) >= 4
    for command in ("analyze", "compile"):
        result = seid(command, cwd=repo)
        assert result.code == 0, result.err
        warned = [
            (int(m.group(1)), int(m.group(2)))
            for m in re.finditer(
                r"^sei\.yaml:(\d+):(\d+): warning: placeholder 'EDIT", result.err, re.M
            )
        ]
        assert warned == expected, result.err
        assert "Traceback" not in result.err
    text = (repo / "sei.yaml").read_text()
    (repo / "sei.yaml").write_text(re.sub(r"(:\s+)EDIT\b", r"\1Reviewed", text))
    assert seid("analyze", cwd=repo).err == ""


def test_run_refuses_to_attest_placeholders(
    seid: SeidRunner, repo: Path, env: dict[str, str], tmp_path: Path
) -> None:
    get_started(repo, env)
    assert seid("init", cwd=repo).code == 0
    key = keys.generate(tmp_path / "keys")
    first = _placeholders((repo / "sei.yaml").read_text())[0]
    result = seid("run", "--force", cwd=repo, extra_env={"SEID_SIGNING_KEY": str(key.private_path)})
    assert_one_line_error(result, f"sei.yaml:{first[0]}:{first[1]}: placeholder 'EDIT", "more")
    assert latest_statement(repo, EVIDENCE_PREDICATE) is None


@pytest.mark.slow
def test_failed_dvc_run_shows_and_records_dvcs_reason(
    seid: SeidRunner, repo: Path, env: dict[str, str], tmp_path: Path
) -> None:
    get_started(repo, env, dvc_repo=True)
    assert seid("init", cwd=repo).code == 0
    text = (repo / "sei.yaml").read_text()
    (repo / "sei.yaml").write_text(re.sub(r"(:\s+)EDIT\b", r"\1Reviewed", text))
    key = keys.generate(tmp_path / "keys")
    keys.add_trusted(repo, key.public_path)
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-qm", "seid", env=env)
    run_env = {"SEID_SIGNING_KEY": str(key.private_path)}
    result = seid("run", "--force", cwd=repo, extra_env=run_env, timeout=300)
    assert result.code == 2, result.err
    assert MISSING_DATA in result.out
    statement = latest_statement(repo, EVIDENCE_PREDICATE)
    assert statement is not None
    pipeline = statement["predicate"]["pipeline"]
    assert any(MISSING_DATA in line for line in pipeline["error_lines"])  # DVC's own words
    again = seid("run", cwd=repo, extra_env=run_env)
    assert again.code == 2
    assert MISSING_DATA in again.out  # "the last run failed" says why, too
