"""Typed drift against HEAD as committed (no ledger yet) and against a recorded snapshot."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from securesystemslib.signer import Signer

from seid.drift import Detection, compare, detect, head_inputs
from seid.fsutil import CACHE_PATH
from seid.snapshot import Matcher
from seid.statcache import StatCache
from tests.conftest import git
from tests.test_snapshot import GLOBS, sha, snap, write


def run(root: Path) -> Detection:
    with StatCache.open(root) as cache:
        return detect(root, GLOBS, cache)  # type: ignore[arg-type]


@pytest.fixture
def project(repo: Path) -> Path:
    write(repo, "sei.yaml", "version: seid/1\n")
    write(repo, "claims/fair.prml.yaml", "claim\n")
    write(repo, "train.py", "print('train')\n")
    write(repo, "src/net.py", "net\n")
    write(repo, "data/a.csv", "x\n1\n")
    write(repo, "data/b.csv", "x\n2\n")
    write(repo, "README.md", "unwatched\n")
    write(repo, ".gitignore", "data/big/\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    return repo


def test_clean_tree_has_no_drift(project: Path) -> None:
    d = run(project)
    assert d.baseline.source == "HEAD"
    assert not d.drift
    assert d.drift.classes == frozenset()
    assert d.baseline.inputs["C"] == {"data/a.csv": sha(b"x\n1\n"), "data/b.csv": sha(b"x\n2\n")}


@pytest.mark.parametrize(
    ("rel", "cls"),
    [("sei.yaml", "A"), ("claims/fair.prml.yaml", "A"), ("train.py", "B"), ("data/a.csv", "C")],
)
def test_each_class_alone(project: Path, rel: str, cls: str) -> None:
    write(project, rel, "changed\n")
    d = run(project).drift
    assert d.classes == {cls}
    assert d.paths == {cls: [rel]}
    assert d.changes[cls][rel] == "modified"  # type: ignore[index]


def test_mixed_classes(project: Path) -> None:
    write(project, "sei.yaml", "version: seid/1\n# moved a threshold\n")
    write(project, "src/net.py", "net v2\n")
    write(project, "data/b.csv", "x\n3\n")
    d = run(project).drift
    assert d.classes == {"A", "B", "C"}
    assert d.paths == {"A": ["sei.yaml"], "B": ["src/net.py"], "C": ["data/b.csv"]}
    assert d.to_predicate() == {"classes": ["A", "B", "C"], "paths": d.paths}


def test_unwatched_change_is_not_drift(project: Path) -> None:
    write(project, "README.md", "edited\n")
    write(project, "notes/new.txt", "new\n")
    assert not run(project).drift


def test_delete_add_and_rename(project: Path) -> None:
    (project / "data/a.csv").unlink()
    write(project, "data/c.csv", "x\n9\n")
    os.rename(project / "src/net.py", project / "src/network.py")
    d = run(project).drift
    assert d.changes == {
        "C": {"data/a.csv": "deleted", "data/c.csv": "added"},
        "B": {"src/net.py": "deleted", "src/network.py": "added"},
    }


def test_committed_change_is_not_drift_against_head(project: Path) -> None:
    write(project, "train.py", "print('v2')\n")
    assert run(project).drift.paths == {"B": ["train.py"]}
    git(project, "commit", "-qam", "v2")
    assert not run(project).drift  # the cached HEAD inputs follow the new commit


def test_git_ignored_data_is_not_compared_with_head(project: Path) -> None:
    """DVC-style data git ignores has no committed blob; its pointer is what git holds."""
    write(project, "data/big/part-0.bin", b"\0" * 100)
    d = run(project)
    assert "data/big/part-0.bin" in d.snapshot.inputs["C"]
    assert d.baseline.excluded == {"data/big/part-0.bin"}
    assert not d.drift


def test_staged_but_uncommitted_file_is_added(project: Path) -> None:
    write(project, "data/new.csv", "n\n")
    git(project, "add", "data/new.csv")
    assert run(project).drift.changes == {"C": {"data/new.csv": "added"}}


def test_committed_symlink_compares_as_its_target(project: Path) -> None:
    os.symlink("a.csv", project / "data/latest.csv")
    git(project, "add", "data/latest.csv")
    git(project, "commit", "-qm", "link")
    d = run(project)
    assert d.baseline.inputs["C"]["data/latest.csv"] == sha(b"x\n1\n")
    assert not d.drift


def test_no_commit_yet_everything_is_added(repo: Path) -> None:
    write(repo, "train.py", "t\n")
    d = run(repo)
    assert d.baseline.source == "none"
    assert d.drift.changes == {"B": {"train.py": "added"}}


def test_head_blobs_read_once_then_cached(project: Path) -> None:
    run(project)
    conn = sqlite3.connect(project / CACHE_PATH)
    (count,) = conn.execute("SELECT count(*) FROM blob").fetchone()
    assert count == 6  # sei.yaml, claim, train.py, src/net.py, data/a.csv, data/b.csv
    conn.execute("UPDATE blob SET digest = 'feed'")
    conn.commit()
    head = git(project, "rev-parse", "HEAD").strip()
    with StatCache.open(project) as cache:
        inputs = head_inputs(project, head, Matcher(GLOBS), cache)  # type: ignore[arg-type]
    assert set(inputs["B"].values()) == {"feed"}  # served from the cache, not git


def test_large_blob_streams_through_cat_file(project: Path) -> None:
    big = os.urandom(3 << 20)
    write(project, "data/big.bin", big)
    write(project, "data/small.csv", "s\n")
    git(project, "add", ".")
    git(project, "commit", "-qm", "big")
    d = run(project)
    assert d.baseline.inputs["C"]["data/big.bin"] == sha(big)
    assert not d.drift


def test_against_recorded_snapshot(project: Path) -> None:
    """The ledger baseline is a bundle's ``inputs``; compare() is the same either way."""
    recorded = snap(project).to_predicate()
    write(project, "train.py", "v3\n")
    (project / "data/b.csv").unlink()
    recorded["B"]["old_unwatched.py"] = sha(b"gone")  # no glob watches it any more
    d = compare(recorded, snap(project), Matcher(GLOBS))  # type: ignore[arg-type]
    assert d.changes == {"B": {"train.py": "modified"}, "C": {"data/b.csv": "deleted"}}


def test_reclassified_path_with_same_content_is_not_drift(project: Path) -> None:
    recorded = snap(project).to_predicate()
    moved = {"A": GLOBS["A"], "B": ["train.py"], "C": ["data/**", "src"]}
    d = compare(recorded, snap(project, moved), Matcher(moved))  # type: ignore[arg-type]
    assert not d


def append_bundle(root: Path, signer: Signer, inputs: dict[str, dict[str, str]]) -> None:
    """A real signed evidence bundle recording ``inputs``, appended to the ledger."""
    from seid import evidence
    from seid.ledger.log import Ledger

    subject = [evidence.Subject("metrics.json", "0" * 64)]
    predicate = {"inputs": inputs, "pipeline": {"tool": "x"}}
    statement = evidence.statement(subject, evidence.EVIDENCE_PREDICATE, predicate)
    with Ledger.open(root, signer.public_key.keyid, create=True) as ledger:
        ledger.append(evidence.sign(statement, signer), signer)


def test_ledger_baseline_wins_over_head(project: Path, tmp_path: Path) -> None:
    """Once a bundle is in the ledger, drift is measured from the snapshot it records."""
    from tests.ledger.conftest import make_key

    signer = make_key(tmp_path, project)
    write(project, "train.py", "print('v2, evidenced')\n")
    append_bundle(project, signer, snap(project).to_predicate())
    first = run(project)
    assert first.baseline.source == "ledger"
    assert first.baseline.predicate is not None
    assert first.baseline.predicate["pipeline"] == {"tool": "x"}
    assert not first.drift  # uncommitted, but evidenced: not drift
    write(project, "data/a.csv", "x\n5\n")
    assert run(project).drift.changes == {"C": {"data/a.csv": "modified"}}
    # The cached baseline follows the ledger: a new bundle evidences the new state.
    append_bundle(project, signer, snap(project).to_predicate())
    assert not run(project).drift
