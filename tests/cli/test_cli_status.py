"""``seid status``: exit codes, text and JSON, and no pipeline tool imported when clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seid.config import load_manifest
from seid.drift import detect
from seid.snapshot import class_globs
from seid.statcache import StatCache
from tests.conftest import SeidRunner, assert_one_line_error, git
from tests.reproducers import conftest as dvc_fixtures

# The real DVC project of tests/reproducers, shared here as fixtures of this module.
dvc_template = dvc_fixtures.dvc_template
dvc_project = dvc_fixtures.dvc_project

GLOBS = {"A": ["sei.yaml"], "B": ["train.py", "src"], "C": ["data"]}
SEI = """\
version: seid/1
system: {{name: toy, intended_purpose: testing}}
pipeline: {{tool: {tool}, command: [python, train.py]}}
inputs:
  treatment: [train.py, src]
  data: [data]
"""
DVC_YAML = "stages:\n  train:\n    cmd: python train.py\n    deps: [train.py, data]\n"
PROBE = """\
import json, sys
from seid.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = ("dvc", "mlflow", "dagster", "seid.config", "seid.evidence")
tools = [m for m in heavy if m in sys.modules]
print(json.dumps({"code": code, "tools": tools}))
"""


def project(repo: Path, tool: str = "command") -> Path:
    files = {
        "sei.yaml": SEI.format(tool=tool),
        "train.py": "print('v1')\n",
        "data/a.csv": "x\n1\n",
        "dvc.yaml": DVC_YAML,
        "README.md": "hello\n",
    }
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    return repo


def probe(root: Path, *args: str) -> dict[str, object]:
    """Run the CLI's main in a fresh interpreter and report which tools got imported."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=root, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(proc.stdout.splitlines()[-1])
    return result


def evidenced(root: Path, tmp: Path) -> Path:
    """``root`` with a trusted bundle recording its inputs as they are: up to date."""
    from tests.ledger.conftest import make_key
    from tests.test_drift import append_bundle
    from tests.test_snapshot import snap

    append_bundle(root, make_key(tmp, root), snap(root, GLOBS).to_predicate())
    return root


def test_no_evidence_yet_is_a_run_due(repo: Path, seid: SeidRunner) -> None:
    """Nothing drifted from HEAD, but nothing is evidenced either: not up to date."""
    root = project(repo)
    r = seid("status", cwd=root)
    assert r.code == 1, r.err
    assert "No evidence yet: `seid run` runs the whole pipeline" in r.out
    assert "Up to date" not in r.out and "HEAD as committed" in r.out
    doc = json.loads(seid("status", "--json", cwd=root).out)
    assert (doc["evidenced"], doc["run_due"], doc["drift"]["classes"]) == (False, True, [])


def test_clean_status_exits_0(repo: Path, seid: SeidRunner, tmp_path: Path) -> None:
    r = seid("status", cwd=evidenced(project(repo), tmp_path))
    assert r.code == 0, r.err
    assert "Up to date: no watched input changed." in r.out
    assert "the newest trusted evidence bundle" in r.out


@pytest.mark.parametrize("tool", ["dvc", "dagster"])
def test_clean_status_imports_no_pipeline_tool(repo: Path, tool: str, tmp_path: Path) -> None:
    root = evidenced(project(repo, tool), tmp_path)
    assert probe(root, "status") == {"code": 0, "tools": ["seid.config", "seid.evidence"]}
    # The second time the watch list comes from the cache: not even the manifest model.
    assert probe(root, "status") == {"code": 0, "tools": []}


def test_criteria_drift_imports_no_pipeline_tool(repo: Path) -> None:
    root = project(repo, "dvc")
    (root / "sei.yaml").write_text((root / "sei.yaml").read_text() + "# reviewed\n")
    assert probe(root, "status") == {"code": 1, "tools": ["seid.config"]}


def test_warm_status_with_a_ledger_reads_no_bundle(repo: Path, tmp_path: Path) -> None:
    """The newest bundle's snapshot is cached too, keyed by the ledger files' stat."""
    root = evidenced(project(repo), tmp_path)
    assert probe(root, "status") == {"code": 0, "tools": ["seid.config", "seid.evidence"]}
    assert probe(root, "status") == {"code": 0, "tools": []}


def test_cached_watch_list_follows_the_manifest(
    repo: Path, seid: SeidRunner, tmp_path: Path
) -> None:
    root = evidenced(project(repo), tmp_path)
    (root / "notes.txt").write_text("n\n")
    assert seid("status", cwd=root).code == 0
    sei = (root / "sei.yaml").read_text().replace("[train.py, src]", "[train.py, src, notes.txt]")
    (root / "sei.yaml").write_text(sei)
    r = seid("status", "--json", cwd=root)
    assert json.loads(r.out)["drift"]["paths"] == {"A": ["sei.yaml"], "B": ["notes.txt"]}


def test_cached_watch_list_follows_filesystem_facts(
    repo: Path, seid: SeidRunner, tmp_path: Path
) -> None:
    """A command argument becomes a watched input once it exists as a code file."""
    root = project(repo)
    sei = (
        (root / "sei.yaml")
        .read_text()
        .replace("inputs:\n", "")
        .replace("  treatment: [train.py, src]\n  data: [data]\n", "")
    )
    (root / "sei.yaml").write_text(sei.replace("[python, train.py]", "[python, extra.py]"))
    git(root, "commit", "-qam", "command pipeline, derived inputs")
    evidenced(root, tmp_path)
    assert seid("status", cwd=root).code == 0
    (root / "extra.py").write_text("print('new')\n")
    r = seid("status", "--json", cwd=root)
    assert json.loads(r.out)["drift"]["paths"] == {"B": ["extra.py"]}


def test_drift_exits_1_with_classes_paths_and_plan(repo: Path, seid: SeidRunner) -> None:
    root = project(repo)
    (root / "train.py").write_text("print('v2')\n")
    (root / "data/b.csv").write_text("x\n2\n")
    (root / "README.md").write_text("not watched\n")
    r = seid("status", cwd=root)
    assert r.code == 1, r.err
    assert "B model drift:\n  modified  train.py\n" in r.out
    assert "C data drift:\n  added     data/b.csv\n" in r.out
    assert "README" not in r.out
    assert (
        "Stale (command):\n  python train.py\n    B modified train.py\n    C added data/b.csv"
        in r.out
    )
    assert r.out.rstrip().endswith("seid run would re-run: python train.py")


def test_json_document(repo: Path, seid: SeidRunner) -> None:
    root = project(repo)
    (root / "data/a.csv").unlink()
    r = seid("status", "--json", cwd=root)
    assert r.code == 1, r.err
    doc = json.loads(r.out)
    head = git(root, "rev-parse", "HEAD").strip()
    assert doc["commit"] == head and doc["branch"] == "main" and doc["dirty"] is True
    assert doc["baseline"] == {"source": "HEAD", "commit": head}
    assert doc["drift"] == {
        "classes": ["C"],
        "paths": {"C": ["data/a.csv"]},
        "changes": {"C": {"data/a.csv": "deleted"}},
    }
    assert doc["plan"]["stale"] == [
        {"name": "python train.py", "reasons": ["C deleted data/a.csv"]}
    ]
    assert doc["would_run"] == ["python train.py"]
    assert doc["skipped"] == []


def test_criteria_only_says_nothing_reruns(repo: Path, seid: SeidRunner) -> None:
    root = project(repo)
    (root / "sei.yaml").write_text((root / "sei.yaml").read_text() + "# threshold reviewed\n")
    r = seid("status", cwd=root)
    assert r.code == 1
    assert "A criteria drift:\n  modified  sei.yaml" in r.out
    assert "seid run would re-run: nothing" in r.out


def test_link_out_of_repo_is_a_warning(repo: Path, seid: SeidRunner, tmp_path: Path) -> None:
    root = evidenced(project(repo), tmp_path)
    (tmp_path / "elsewhere.csv").write_text("outside\n")
    (root / "data/ext.csv").symlink_to(tmp_path / "elsewhere.csv")
    r = seid("status", cwd=root)
    assert r.code == 0, r.out
    assert "warning: skipped data/ext.csv: symbolic link leads outside the repository" in r.out


def test_unreadable_input_is_exit_2_naming_it(repo: Path, seid: SeidRunner) -> None:
    root = project(repo)
    (root / "data/loop").symlink_to("loop")
    assert_one_line_error(seid("status", cwd=root), "data/loop: cannot read watched input")


def test_no_manifest_is_exit_2(repo: Path, seid: SeidRunner) -> None:
    r = seid("status", cwd=repo)
    assert r.code == 2
    assert "Traceback" not in r.err


def test_second_status_reads_nothing(repo: Path, seid: SeidRunner, tmp_path: Path) -> None:
    """After one status, every watched file (old enough to trust) is a stat-cache hit."""
    root = evidenced(project(repo), tmp_path)
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 10_000_000_000))
    assert seid("status", cwd=root).code == 0
    inputs = load_manifest(root).resolved_inputs(root)
    with StatCache.open(root) as cache:
        detect(root, class_globs(inputs), cache)
        assert (cache.hits, cache.misses) == (3, 0)  # sei.yaml, train.py, data/a.csv


@pytest.mark.slow
def test_dvc_treatment_change(dvc_project: Path, seid: SeidRunner) -> None:
    (dvc_project / "train.py").write_text((dvc_project / "train.py").read_text() + "# v2\n")
    r = seid("status", "--json", cwd=dvc_project, extra_env={"DVC_NO_ANALYTICS": "1"})
    assert r.code == 1, r.err
    doc = json.loads(r.out)
    assert doc["plan"]["cached"] == ["featurize"]
    assert doc["would_run"] == ["train"]
    assert doc["lock_digest"] is not None
