"""MLflow and command pipelines: one entry, stale when any B or C input changed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from seid.config import Pipeline
from seid.drift import Drift
from seid.errors import ToolMissingError
from seid.reproducers import get_reproducer, plan
from seid.snapshot import Snapshot

SNAP = Snapshot(commit=None, dirty=False, lock_digest=None, inputs={})


@pytest.mark.parametrize(
    ("pipeline", "entry"),
    [
        (Pipeline(tool="mlflow", entry="eval/mlflow_entry.py"), "eval/mlflow_entry.py"),
        (Pipeline(tool="mlflow"), "main"),
        (Pipeline(tool="command", command=["python", "run.py", "--fast"]), "python run.py --fast"),
    ],
)
def test_whole_entry_stale_on_treatment_or_data(pipeline: Pipeline, entry: str) -> None:
    drift = Drift({"B": {"train.py": "modified"}, "C": {"d.csv": "added"}})
    p = plan(Path("."), pipeline, None, drift, SNAP)
    assert p.tool == pipeline.tool
    assert [(s.name, s.reasons) for s in p.stale] == [
        (entry, ("B modified train.py", "C added d.csv"))
    ]


def test_criteria_only_leaves_the_entry_alone() -> None:
    p = plan(Path("."), Pipeline(tool="mlflow"), None, Drift({"A": {"sei.yaml": "modified"}}), SNAP)
    assert p.stale == ()
    assert "nothing re-runs" in (p.note or "")


def test_versions_come_from_metadata_without_importing() -> None:
    mlflow = get_reproducer("mlflow")(Path("."), Pipeline(tool="mlflow"), None)
    assert mlflow.version and mlflow.version[0].isdigit()
    command = get_reproducer("command")(Path("."), Pipeline(tool="command", command=["x"]), None)
    assert command.version is None


def test_missing_tool_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``None`` entry in sys.modules is how Python itself marks a module unimportable."""
    monkeypatch.setitem(sys.modules, "dagster", None)
    with pytest.raises(
        ToolMissingError, match=r"dagster is not installed: pip install 'seid\[dagster\]'"
    ):
        get_reproducer("dagster")
