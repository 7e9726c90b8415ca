"""seid.scaffold: the starter sei.yaml, the tool it detects, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from seid.config import load_manifest
from seid.errors import InputError, SeidError
from seid.scaffold import PLACEHOLDER_COMMAND, detect, write_starter
from tests.conftest import git

DVC_YAML = """\
stages:
  prepare:
    cmd: python src/prepare.py
    deps: [data/raw, src/prepare.py]
    params: [prepare.split]
    outs: [data/prepared]
  train:
    cmd: python train.py
    deps: [data/prepared, train.py]
    outs: [model.pkl]
    metrics:
      - scores.json:
          cache: false
"""


def write(root: Path, rel: str, text: str = "") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def commit_all(repo: Path, env: dict[str, str]) -> None:
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "-m", "project", env=env)


def test_dvc_project_fills_inputs_from_stage_deps(repo: Path, env: dict[str, str]) -> None:
    write(repo, "dvc.yaml", DVC_YAML)
    write(repo, "params.yaml", "prepare: {split: 0.2}\n")
    write(repo, "src/prepare.py", "print('prepare')\n")
    write(repo, "train.py", "print('train')\n")
    write(repo, "data/raw/part-0.csv", "a,b\n1,2\n")
    commit_all(repo, env)
    result = write_starter(repo)
    manifest = load_manifest(repo)
    assert result.detection.tool == manifest.pipeline.tool == "dvc"
    assert result.detection.found == "dvc.yaml"
    assert manifest.pipeline.metrics == "scores.json"
    assert manifest.pipeline.params == "params.yaml"
    assert manifest.inputs is not None
    assert manifest.inputs.criteria == ["sei.yaml", "claims/*.prml.yaml"]
    assert {"dvc.yaml", "params.yaml", "src/prepare.py", "train.py"} <= set(
        manifest.inputs.treatment
    )
    assert "data/raw/**" in manifest.inputs.data
    # A dep another stage produces is not an input.
    assert not any("prepared" in glob for glob in manifest.inputs.data)
    assert manifest.inputs == result.inputs


def test_mlproject_is_mlflow(repo: Path) -> None:
    write(repo, "MLproject", "name: demo\nentry_points:\n  train:\n    command: python t.py\n")
    write_starter(repo)
    manifest = load_manifest(repo)
    assert (manifest.pipeline.tool, manifest.pipeline.entry) == ("mlflow", "train")
    assert manifest.inputs is not None
    assert "MLproject" in manifest.inputs.treatment


def test_mlflow_entry_script_is_mlflow(repo: Path) -> None:
    write(repo, "pipelines/run_mlflow_entry.py", "import mlflow\n")
    result = write_starter(repo)
    manifest = load_manifest(repo)
    assert result.detection.found == "pipelines/run_mlflow_entry.py"
    assert (manifest.pipeline.tool, manifest.pipeline.entry) == (
        "mlflow",
        "pipelines/run_mlflow_entry.py",
    )
    assert manifest.inputs is not None
    assert "pipelines/run_mlflow_entry.py" in manifest.inputs.treatment


@pytest.mark.parametrize(
    ("rel", "text"),
    [
        ("definitions.py", "defs = None\n"),
        ("orchestration/my_dagster_defs.py", "defs = None\n"),
        ("project/assets.py", "import dagster as dg\ndefs = dg.Definitions(assets=[])\n"),
    ],
)
def test_dagster_definitions_are_found(repo: Path, rel: str, text: str) -> None:
    write(repo, "project/helpers.py", "x = 1\n")
    write(repo, rel, text)
    write_starter(repo)
    manifest = load_manifest(repo)
    assert (manifest.pipeline.tool, manifest.pipeline.definitions) == ("dagster", rel)
    assert manifest.inputs is not None
    assert rel in manifest.inputs.treatment


def test_nothing_found_is_a_command_placeholder(repo: Path) -> None:
    write(repo, "notes.md", "# not a pipeline\n")
    write(repo, ".venv/lib/definitions.py", "defs = Definitions()\n")  # not the project's
    result = write_starter(repo)
    manifest = load_manifest(repo)
    assert result.detection.found is None
    assert manifest.pipeline.tool == "command"
    assert manifest.pipeline.command == list(PLACEHOLDER_COMMAND)
    assert "EDIT: the argv" in (repo / "sei.yaml").read_text("utf-8")


def test_dvc_wins_over_other_tools_unless_a_tool_is_asked(repo: Path) -> None:
    write(repo, "dvc.yaml", DVC_YAML)
    write(repo, "MLproject", "name: demo\n")
    assert detect(repo).tool == "dvc"
    forced = detect(repo, "mlflow")
    assert (forced.tool, forced.found, forced.entry) == ("mlflow", "MLproject", "main")
    assert detect(repo, "dagster").found is None


def test_starter_has_an_example_gate_marked_to_edit(repo: Path) -> None:
    write_starter(repo)
    text = (repo / "sei.yaml").read_text("utf-8")
    manifest = load_manifest(repo)
    [risk] = manifest.risk.risks
    [measure] = risk.measures
    assert measure.enforcement == "gate"
    assert str(measure.constraint) == "< 0.05"
    assert "# EDIT: an example risk" in text
    assert text.startswith("# sei.yaml")


def test_existing_manifest_is_kept_unless_forced(repo: Path) -> None:
    write(repo, "sei.yaml", "mine\n")
    with pytest.raises(SeidError, match=r"already exists.*--force"):
        write_starter(repo)
    assert (repo / "sei.yaml").read_text("utf-8") == "mine\n"
    result = write_starter(repo, force=True)
    assert result.overwritten
    assert load_manifest(repo).pipeline.tool == "command"
    assert [p.name for p in repo.iterdir() if p.name.endswith(".tmp")] == []


def test_venth_manifest_counts_as_existing(repo: Path) -> None:
    write(repo, "venth.yaml", "apiVersion: venturalitica.ai/v1alpha1\n")
    with pytest.raises(SeidError, match=r"venth\.yaml already exists"):
        write_starter(repo)
    assert not (repo / "sei.yaml").exists()


def test_awkward_directory_name_still_loads(tmp_path: Path) -> None:
    root = tmp_path / "team: model #2, 'v1'"
    root.mkdir()
    write(root, "dvc.yaml", "stages:\n  s:\n    cmd: x\n    deps: ['data dir/a b.csv']\n")
    write_starter(root)
    manifest = load_manifest(root)
    assert manifest.system.name == "team: model #2, 'v1'"
    assert manifest.inputs is not None
    assert "data dir/a b.csv" in manifest.inputs.data


def test_broken_tool_file_is_reported_and_nothing_written(repo: Path) -> None:
    write(repo, "MLproject", "name: [unclosed\n")
    with pytest.raises(InputError, match="MLproject"):
        write_starter(repo)
    assert sorted(p.name for p in repo.iterdir()) == [".git", "MLproject"]
