"""A real two-stage DVC project (featurize -> train), reproduced once, copied per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git

FEATURIZE = """\
import pathlib
rows = pathlib.Path("data/raw.csv").read_text().splitlines()
pathlib.Path("features").mkdir(exist_ok=True)
pathlib.Path("features/rows.txt").write_text("\\n".join(r.upper() for r in rows) + "\\n")
"""
TRAIN = """\
import json, pathlib
rows = pathlib.Path("features/rows.txt").read_text().splitlines()
pathlib.Path("model").mkdir(exist_ok=True)
pathlib.Path("model/model.txt").write_text(str(len(rows)))
pathlib.Path("metrics.json").write_text(json.dumps({"accuracy": 0.8}))
"""
DVC_YAML = """\
stages:
  featurize:
    cmd: python featurize.py
    deps: [data/raw.csv, featurize.py]
    outs: [features]
  train:
    cmd: python train.py
    deps: [features, train.py]
    params: [train]
    outs: [model]
    metrics:
      - metrics.json:
          cache: false
"""
SEI_YAML = """\
version: seid/1
system: {name: toy, intended_purpose: testing drift}
pipeline: {tool: dvc, metrics: metrics.json, params: params.yaml}
"""


def dvc_env() -> dict[str, str]:
    """The environment DVC runs in: no analytics, no update check, venv on PATH."""
    bindir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "DVC_IGNORE_UPDATES": "1",
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def build_dvc_project(path: Path) -> Path:
    """Write the project, ``dvc init``, ``dvc repro`` once for real, commit everything."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Ada Tester")
    git(path, "config", "user.email", "ada@example.org")
    git(path, "config", "commit.gpgsign", "false")
    files = {
        "featurize.py": FEATURIZE,
        "train.py": TRAIN,
        "dvc.yaml": DVC_YAML,
        "sei.yaml": SEI_YAML,
        "params.yaml": "train:\n  c: 1.0\n",
        "data/raw.csv": "a,b\n1,2\n",
    }
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    env = dvc_env()
    for argv in (["init", "-q"], ["repro", "-q"]):
        subprocess.run([sys.executable, "-m", "dvc", *argv], cwd=path, env=env, check=True)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "toy pipeline, reproduced")
    return path


@pytest.fixture(scope="session")
def dvc_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_dvc_project(tmp_path_factory.mktemp("dvc-template") / "project")


@pytest.fixture
def dvc_project(dvc_template: Path, tmp_path: Path) -> Path:
    """A private copy of the reproduced project (DVC re-hashes the copies; contents match)."""
    dest = tmp_path / "project"
    shutil.copytree(dvc_template, dest, symlinks=True)
    return dest
