"""``--reexecute``: real pipeline runs in temporary worktrees, compared with the ledger."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from seid.assess import assess
from seid.config import load_manifest
from seid.metrics_file import load_metrics
from seid.replay import report
from seid.replay.cycle import build
from seid.replay.findings import find
from seid.replay.history import walk
from seid.replay.join import join
from seid.replay.reexecute import _worktree, reexecute
from tests.replay.conftest import Repo, manifest, verdict
from tests.replay.schema import problems

TRAIN = 'import json\njson.dump({{"dp-gap": {{"value": {value}}}}}, open("metrics.json", "w"))\n'


def command_manifest() -> str:
    argv = f"[{sys.executable}, train.py]"
    return manifest().replace("[python, train.py]", argv)


def worktrees(hist: Repo) -> int:
    return hist.run("worktree", "list", "--porcelain").count("worktree ")


def test_reproduced_differs_failed_and_worktrees_removed(hist: Repo, tmp_path: Path) -> None:
    hist.key(tmp_path)
    same = hist.commit({"sei.yaml": command_manifest(), "train.py": TRAIN.format(value=0.01)})
    hist.bundle(same, [verdict(0.01, "pass")])
    other = hist.commit({"train.py": TRAIN.format(value=0.02)})
    hist.bundle(other, [verdict(0.05, "fail")])
    broken = hist.commit({"train.py": "raise SystemExit('no data here')\n"})
    hist.bundle(broken, [verdict(0.01, "pass")])
    results = reexecute(hist.path, walk(hist.path), join(hist.path), 3)
    assert [(r.commit, r.status) for r in results] == [
        (broken, "failed"),
        (other, "differs"),
        (same, "reproduced"),
    ]
    assert "no data here" in (results[0].error or "")
    [compared] = results[1].metrics
    assert (compared.recorded, compared.recomputed, compared.within) == (0.05, 0.02, False)
    assert worktrees(hist) == 1
    assert not (hist.path / "metrics.json").exists()  # the user's tree is untouched
    newest = reexecute(hist.path, walk(hist.path), join(hist.path), 1)
    assert [r.commit for r in newest] == [broken]


def test_tolerance_decides_what_reproduces(hist: Repo, tmp_path: Path) -> None:
    hist.key(tmp_path)
    sha = hist.commit({"sei.yaml": command_manifest(), "train.py": TRAIN.format(value=0.0101)})
    hist.bundle(sha, [verdict(0.01, "pass")])
    strict = reexecute(hist.path, walk(hist.path), join(hist.path), 1)
    loose = reexecute(hist.path, walk(hist.path), join(hist.path), 1, tolerance=0.05)
    assert (strict[0].status, loose[0].status) == ("differs", "reproduced")


def test_a_tool_not_installed_is_reported_not_run(
    hist: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every tool is installed here; a host without the extra is simulated.
    monkeypatch.setattr("seid.reproducers.base._installed", lambda module: False)
    hist.key(tmp_path)
    text = manifest().replace("{tool: command, command: [python, train.py]}", "{tool: mlflow}")
    sha = hist.commit({"sei.yaml": text})
    hist.bundle(sha, [verdict(0.01, "pass")])
    [result] = reexecute(hist.path, walk(hist.path), join(hist.path), 1)
    assert result.status == "unsupported" and "seid[mlflow]" in (result.error or "")
    assert worktrees(hist) == 1


def test_the_worktree_is_removed_on_interrupt(hist: Repo) -> None:
    sha = hist.commit({"f": "1"})
    with pytest.raises(KeyboardInterrupt), _worktree(hist.path, sha) as tree:
        assert (tree / "f").read_text() == "1"
        assert worktrees(hist) == 2
        raise KeyboardInterrupt
    assert worktrees(hist) == 1 and not tree.exists()


def test_reproductions_in_the_report_match_the_schema(hist: Repo, tmp_path: Path) -> None:
    hist.key(tmp_path)
    sha = hist.commit({"sei.yaml": command_manifest(), "train.py": TRAIN.format(value=0.01)})
    hist.bundle(sha, [verdict(0.01, "pass")])
    history, found = walk(hist.path), join(hist.path)
    now = datetime(2026, 2, 1, tzinfo=UTC)
    cycles = build(history, found, now)
    doc = report.document(
        report.Scope(sha, None, None, now),
        history,
        found,
        cycles,
        find(history, found, cycles),
        reexecute(hist.path, history, found, 1),
    )
    assert problems(doc) == []
    assert doc["reproducibility"][0]["status"] == "reproduced"


LOAN = Path(__file__).resolve().parents[2] / "seid" / "scenarios" / "loan"


@pytest.mark.slow
def test_reexecute_reproduces_the_loan_scenario(
    hist: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real DVC pipeline of the loan scenario, re-run in a worktree, gives the
    metrics its bundle recorded."""
    # dvc.yaml says ``python ...``: the interpreter seid runs in, with its packages.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    shutil.copytree(LOAN, hist.path, dirs_exist_ok=True)
    subprocess.run([sys.executable, "generate_data.py"], cwd=hist.path, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=hist.path, check=True)
    hist.run("add", "-A")
    sha = hist.commit({}, "loan scenario")
    subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "--quiet"], cwd=hist.path, check=True, timeout=600
    )
    manifest = load_manifest(hist.path)
    assessed = assess(manifest, load_metrics(hist.path / "metrics.json"))
    hist.key(tmp_path)
    hist.bundle(sha, [v.to_dict() for v in assessed.verdicts])
    history = walk(hist.path)
    [result] = reexecute(hist.path, history, join(hist.path, history), 1)
    assert result.status == "reproduced", result
    assert {c.measure for c in result.metrics} >= {"dp-gap", "accuracy-floor"}
