"""Dagster plans: assets whose code_version differs from the last evidenced one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from seid.config import Pipeline
from seid.drift import Drift
from seid.errors import InputError, SeidError
from seid.reproducers.dagster import DagsterReproducer
from seid.snapshot import Snapshot

pytestmark = pytest.mark.slow  # importing dagster takes seconds

DEFS = """\
import dagster as dg

@dg.asset(code_version="{features}")
def features() -> int:
    return 1

@dg.asset(code_version="{model}", deps=[features])
def model() -> int:
    return 2

@dg.asset(code_version="{report}", deps=[model])
def report() -> int:
    return 3

defs = dg.Definitions(assets=[features, model, report])
"""
SNAP = Snapshot(commit=None, dirty=False, lock_digest=None, inputs={})
RECORDED = {"pipeline": {"code_versions": {"features": "f1", "model": "m1", "report": "r1"}}}


def reproducer(
    root: Path, previous: dict[str, Any] | None = RECORDED, **versions: str
) -> DagsterReproducer:
    versions = {"features": "f1", "model": "m1", "report": "r1", **versions}
    (root / "defs.py").write_text(DEFS.format(**versions))
    return DagsterReproducer(root, Pipeline(tool="dagster", definitions="defs.py"), previous)


def test_treatment_change_stales_its_asset_and_downstream(tmp_path: Path) -> None:
    p = reproducer(tmp_path, model="m2").plan(Drift({"B": {"train.py": "modified"}}), SNAP)
    assert [(s.name, s.reasons) for s in p.stale] == [
        ("model", ("code_version m1 -> m2",)),
        ("report", ("downstream of model",)),
    ]
    assert p.cached == ("features",)


def test_data_change_stales_everything(tmp_path: Path) -> None:
    p = reproducer(tmp_path).plan(Drift({"C": {"data/x.csv": "modified"}}), SNAP)
    assert [s.name for s in p.stale] == ["features", "model", "report"]
    assert p.reasons["features"] == ("C modified data/x.csv",)
    assert p.cached == ()


def test_nothing_recorded_means_never_evidenced(tmp_path: Path) -> None:
    p = reproducer(tmp_path, previous=None).plan(Drift({"B": {"t.py": "modified"}}), SNAP)
    assert p.reasons["features"] == ("code_version f1 never evidenced",)
    assert len(p.stale) == 3


def test_broken_definitions_are_one_error(tmp_path: Path) -> None:
    (tmp_path / "defs.py").write_text("raise RuntimeError('boom')\n")
    r = DagsterReproducer(tmp_path, Pipeline(tool="dagster", definitions="defs.py"), None)
    with pytest.raises(SeidError, match="cannot load Dagster definitions: boom"):
        r.plan(Drift({"B": {"t.py": "modified"}}), SNAP)
    (tmp_path / "defs.py").write_text("x = 1\n")
    with pytest.raises(InputError, match=r"expected one dagster\.Definitions object, found 0"):
        r.plan(Drift({"B": {"t.py": "modified"}}), SNAP)
