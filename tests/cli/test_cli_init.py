"""``seid init`` through the real CLI: what it reports, and the two-command start."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import SeidRunner, assert_one_line_error


def test_init_reports_tool_and_inputs_then_compiles(seid: SeidRunner, repo: Path) -> None:
    (repo / "MLproject").write_text("name: demo\nentry_points: {main: {command: x}}\n")
    result = seid("init", cwd=repo)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "wrote sei.yaml"
    assert lines[1] == "pipeline tool: mlflow (found MLproject)"
    assert "inputs treatment: MLproject" in result.out
    compiled = seid("compile", "--json", cwd=repo)
    assert compiled.code == 0, compiled.err
    assert json.loads(compiled.out)["tasks"] == 1


def test_init_refuses_to_overwrite(seid: SeidRunner, repo: Path) -> None:
    (repo / "sei.yaml").write_text("mine\n")
    assert_one_line_error(seid("init", cwd=repo), "sei.yaml already exists", "--force")
    assert (repo / "sei.yaml").read_text() == "mine\n"


def test_init_force_and_tool(seid: SeidRunner, repo: Path) -> None:
    (repo / "sei.yaml").write_text("mine\n")
    result = seid("init", "--force", "--tool", "dagster", "--json", cwd=repo)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert (report["tool"], report["found"], report["overwritten"]) == ("dagster", None, True)
    assert "definitions: definitions.py  # EDIT" in (repo / "sei.yaml").read_text()


def test_init_unknown_tool_is_a_usage_error(seid: SeidRunner, repo: Path) -> None:
    result = seid("init", "--tool", "airflow", cwd=repo)
    assert result.code == 2
    assert "airflow" in result.err
    assert not (repo / "sei.yaml").exists()
