"""DVC runs through DVC's API in a child process: the stages it says it reproduced."""

from __future__ import annotations

from pathlib import Path

import pytest

from seid.config import load_manifest
from seid.reproducers.dvc import DvcReproducer
from seid.reproducers.result import RunResult
from tests.reproducers.test_dvc_plan import status

pytestmark = pytest.mark.slow


def _reproduce(root: Path) -> RunResult:
    found, planned = status(root)
    adapter = DvcReproducer(root, load_manifest(root).pipeline, None)
    return adapter.reproduce(
        planned, found.snapshot, root / ".sei" / "logs" / "run.log", echo=False
    )


def test_the_stages_dvc_reproduced_and_the_ones_it_kept(dvc_project: Path) -> None:
    (dvc_project / "params.yaml").write_text("train:\n  c: 2.0\n")
    result = _reproduce(dvc_project)
    assert result.error is None
    assert (result.stages_run, result.stages_skipped) == (("train",), ("featurize",))
    log = (dvc_project / ".sei" / "logs" / "run.log").read_text()
    assert "Running stage 'train'" in log  # DVC's own output, as `dvc repro` prints it


def test_a_stage_whose_data_is_missing_fails_with_dvc_s_reason(dvc_project: Path) -> None:
    (dvc_project / "data" / "raw.csv").unlink()  # a dependency DVC cannot find
    result = _reproduce(dvc_project)
    assert result.stages_run == ()
    assert result.error is not None and result.error.startswith("dvc: ")
    assert "failed to reproduce 'featurize'" in result.error and "data/raw.csv" in result.error
    log = (dvc_project / ".sei" / "logs" / "run.log").read_text()
    assert log.count("ERROR: failed to reproduce 'featurize'") == 1  # as dvc prints it: once
