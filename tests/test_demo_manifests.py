"""The demo's manifests: each one's comments describe its own tool's pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from seid.config import load_manifest_text
from seid.demo import DEMO_KEY, manifest_for, next_steps

OWN_FILE = {"dvc": "dvc.yaml", "mlflow": "eval/mlflow_entry.py", "dagster": "dagster_defs.py"}


def _comments(text: str, before: str) -> str:
    """The comment block just above the line ``before``."""
    lines = text.splitlines()
    end = lines.index(before)
    start = end
    while start > 0 and lines[start - 1].startswith("#"):
        start -= 1
    return "\n".join(lines[start:end])


@pytest.mark.parametrize("tool", ["dvc", "mlflow", "dagster"])
def test_each_manifest_describes_its_own_pipeline(tool: str) -> None:
    text = manifest_for(tool)
    manifest = load_manifest_text(text, "sei.yaml")
    assert manifest.pipeline.tool == tool
    about_pipeline = _comments(text, "pipeline:")
    assert OWN_FILE[tool] in about_pipeline
    if tool == "dvc":
        assert "No `inputs:` section" in text and manifest.inputs is None
        return
    assert "DVC" not in about_pipeline and "dvc.yaml:" not in about_pipeline
    assert "No `inputs:` section" not in text
    assert manifest.inputs is not None
    assert OWN_FILE[tool] in manifest.inputs.treatment
    assert "written out" in _comments(text, "inputs:")


def test_next_steps_name_the_demo_key_and_the_html_report(tmp_path: Path) -> None:
    steps = "\n".join(next_steps(tmp_path / "my demo"))
    assert f"export SEID_SIGNING_KEY='{tmp_path / 'my demo' / DEMO_KEY}'" in steps
    assert "seid reconstruct --format html --out audit/" in steps
    assert "audit/reconstruct.html" in steps
