"""DVC plans from DVC's own status, in-process: what is stale, why, and what stays cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from seid.config import load_manifest
from seid.drift import Detection, detect
from seid.reproducers import Plan, plan
from seid.snapshot import class_globs
from seid.statcache import StatCache

pytestmark = pytest.mark.slow


def status(root: Path) -> tuple[Detection, Plan]:
    manifest = load_manifest(root)
    inputs = manifest.resolved_inputs(root)
    with StatCache.open(root) as cache:
        found = detect(root, class_globs(inputs), cache)
    return found, plan(root, manifest.pipeline, None, found.drift, found.snapshot)


def test_clean_project_is_up_to_date(dvc_project: Path) -> None:
    found, p = status(dvc_project)
    assert not found.drift
    assert found.snapshot.lock_digest is not None
    assert (p.stale, p.note) == ((), "up to date")


def test_treatment_change_stales_training_only(dvc_project: Path) -> None:
    with (dvc_project / "train.py").open("a") as f:
        f.write("# treatment v2\n")
    found, p = status(dvc_project)
    assert found.drift.paths == {"B": ["train.py"]}
    assert [s.name for s in p.stale] == ["train"]
    assert p.reasons["train"] == ("changed deps: train.py modified",)
    assert p.cached == ("featurize",)


def test_params_change_stales_training_only(dvc_project: Path) -> None:
    (dvc_project / "params.yaml").write_text("train:\n  c: 0.5\n")
    found, p = status(dvc_project)
    assert found.drift.classes == {"B"}
    assert [s.name for s in p.stale] == ["train"]
    assert p.reasons["train"] == ("changed deps: params.yaml train modified",)
    assert p.cached == ("featurize",)


def test_data_change_stales_everything_downstream(dvc_project: Path) -> None:
    (dvc_project / "data/raw.csv").write_text("a,b\n1,2\n3,4\n")
    found, p = status(dvc_project)
    assert found.drift.paths == {"C": ["data/raw.csv"]}
    assert [s.name for s in p.stale] == ["featurize", "train"]
    assert p.reasons["featurize"] == ("changed deps: data/raw.csv modified",)
    assert p.reasons["train"] == ("downstream of featurize",)
    assert p.cached == ()


def test_data_and_treatment_together(dvc_project: Path) -> None:
    (dvc_project / "data/raw.csv").write_text("a,b\n9,9\n")
    (dvc_project / "featurize.py").write_text((dvc_project / "featurize.py").read_text() + "#\n")
    found, p = status(dvc_project)
    assert found.drift.classes == {"B", "C"}
    assert [s.name for s in p.stale] == ["featurize", "train"]
    assert set(p.reasons["featurize"]) == {
        "changed deps: data/raw.csv modified",
        "changed deps: featurize.py modified",
    }


def test_criteria_only_never_asks_dvc(dvc_project: Path) -> None:
    (dvc_project / "sei.yaml").write_text((dvc_project / "sei.yaml").read_text() + "# reviewed\n")
    found, p = status(dvc_project)
    assert found.drift.paths == {"A": ["sei.yaml"]}
    assert p.stale == () and p.cached == ()
    assert p.note is not None and "nothing re-runs" in p.note


def test_deleted_dependency_is_drift_and_stale(dvc_project: Path) -> None:
    (dvc_project / "data/raw.csv").unlink()
    found, p = status(dvc_project)
    assert found.drift.changes == {"C": {"data/raw.csv": "deleted"}}
    assert p.reasons["featurize"] == ("changed deps: data/raw.csv deleted",)
    assert [s.name for s in p.stale] == ["featurize", "train"]
