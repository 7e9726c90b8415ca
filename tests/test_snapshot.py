"""Snapshots: which files are watched, in which class, and what is skipped or refused."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seid.errors import InputError
from seid.snapshot import Matcher, Snapshot, git_state, take_snapshot
from seid.statcache import StatCache
from tests.conftest import git

GLOBS = {"A": ["sei.yaml", "claims/*.prml.yaml"], "B": ["train.py", "src"], "C": ["data/**"]}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(root: Path, rel: str, data: bytes | str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def snap(root: Path, globs: dict[str, list[str]] | None = None) -> Snapshot:
    with StatCache.open(root) as cache:
        return take_snapshot(root, globs or GLOBS, cache)  # type: ignore[arg-type]


@pytest.fixture
def project(repo: Path) -> Path:
    write(repo, "sei.yaml", "version: seid/1\n")
    write(repo, "claims/fair.prml.yaml", "claim\n")
    write(repo, "claims/notes.txt", "not a claim\n")
    write(repo, "train.py", "print('train')\n")
    write(repo, "src/model/net.py", "net\n")
    write(repo, "data/raw/a.csv", "x\n1\n")
    write(repo, "README.md", "unwatched\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    return repo


def test_classes_and_directory_expansion(project: Path) -> None:
    s = snap(project)
    assert s.inputs["A"] == {
        "claims/fair.prml.yaml": sha(b"claim\n"),
        "sei.yaml": sha(b"version: seid/1\n"),
    }
    assert set(s.inputs["B"]) == {"train.py", "src/model/net.py"}
    assert s.inputs["C"] == {"data/raw/a.csv": sha(b"x\n1\n")}
    assert s.to_predicate()["C"] == {"data/raw/a.csv": sha(b"x\n1\n")}
    assert list(s.to_predicate()) == ["A", "B", "C"]


def test_git_state_commit_and_dirty(project: Path) -> None:
    head = git(project, "rev-parse", "HEAD").strip()
    clean = snap(project)
    assert (clean.commit, clean.dirty, clean.branch) == (head, False, "main")
    write(project, "train.py", "print('v2')\n")
    assert snap(project).dirty is True


def test_git_state_ignored_and_renames(project: Path) -> None:
    write(project, ".gitignore", "data/big/\n*.tmp\n")
    write(project, "data/big/part-0.bin", "x")
    write(project, "scratch.tmp", "x")
    write(project, "! odd.py", "x")
    git(project, "add", ".")
    git(project, "commit", "-qm", "odd name")
    git(project, "mv", "! odd.py", "renamed.py")  # the old name is a record of its own
    state = git_state(project)
    assert state.dirty is True
    assert state.ignored == {"data/big/", "scratch.tmp"}


def test_unborn_head_has_no_commit(repo: Path) -> None:
    assert git_state(repo).commit is None


def test_precedence_a_over_c_over_b(tmp_path: Path) -> None:
    m = Matcher({"A": ["conf/*.yaml"], "B": ["conf/**", "shared.py"], "C": ["conf/d", "shared.py"]})
    assert m.classify("conf/risk.yaml") == "A"
    assert m.classify("conf/d/x.yaml") == "C"
    assert m.classify("conf/model.json") == "B"
    assert m.classify("shared.py") == "C"
    assert m.classify("other.py") is None


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("**/*.dvc", ["a.dvc", "x/y/b.dvc"], ["a.dvcx", "x/a.dvc.bak"]),
        ("data/*.csv", ["data/a.csv"], ["data/sub/a.csv", "data.csv"]),
        ("data", ["data/a", "data/b/c"], ["database/x", "dat"]),
        ("f?.py", ["f1.py"], ["f12.py", "f/.py"]),
        ("[ab].txt", ["a.txt", "b.txt"], ["c.txt"]),
        ("src/**/test_*.py", ["src/test_a.py", "src/x/y/test_b.py"], ["test_a.py"]),
    ],
)
def test_glob_semantics(pattern: str, yes: list[str], no: list[str]) -> None:
    m = Matcher({"B": [pattern]})
    assert all(m.classify(p) == "B" for p in yes), yes
    assert all(m.classify(p) is None for p in no), no


@pytest.mark.parametrize("bad", ["../outside", "/etc/passwd", "a/../../b", "a\\b"])
def test_globs_leaving_the_repo_are_refused(bad: str) -> None:
    with pytest.raises(InputError, match="not a path inside the repository"):
        Matcher({"C": [bad]})


def test_never_descends_into_git_sei_or_dvc(project: Path) -> None:
    write(project, ".dvc/cache/files/md5/ab/cdef", "cached data")
    write(project, ".dvc/tmp/rwlock", "{}")
    write(project, ".dvc/config", "[core]\n")
    write(project, "data/credit.csv.dvc", "outs: []\n")
    s = snap(project, {"C": ["**", "**/*.dvc"]})
    assert not [p for p in s.inputs["C"] if p.startswith((".git/", ".sei/", ".dvc/"))]
    assert "data/credit.csv.dvc" in s.inputs["C"]
    # the same rule for paths that come from git rather than from a walk
    matcher = Matcher({"C": ["**/*.dvc"]})
    assert matcher.classify(".dvc/config") is None
    assert matcher.classify("data/credit.csv.dvc") == "C"


def test_symlink_inside_repo_is_followed(project: Path) -> None:
    os.symlink("raw/a.csv", project / "data/latest.csv")
    os.symlink("../src", project / "data/srclink")
    s = snap(project)
    assert s.inputs["C"]["data/latest.csv"] == sha(b"x\n1\n")
    assert "data/srclink/model/net.py" in s.inputs["C"]
    assert s.skipped == ()


def test_symlink_out_of_repo_is_skipped_and_reported(project: Path, tmp_path: Path) -> None:
    secret = write(tmp_path, "outside/secret.csv", "not ours\n")
    os.symlink(secret, project / "data/ext.csv")
    os.symlink(secret.parent, project / "data/extdir")
    s = snap(project)
    assert "data/ext.csv" not in s.inputs["C"]
    assert not [p for p in s.inputs["C"] if p.startswith("data/extdir")]
    assert s.skipped == (
        "data/ext.csv: symbolic link leads outside the repository",
        "data/extdir: symbolic link leads outside the repository",
    )


def test_glob_below_a_linked_directory_stays_in_the_repo(project: Path, tmp_path: Path) -> None:
    """``data/sub/*.csv`` must not be walked when ``data`` itself leads out of the repo."""
    write(tmp_path, "outside/sub/x.csv", "theirs\n")
    (project / "elsewhere").symlink_to(tmp_path / "outside")
    s = snap(project, {"C": ["elsewhere/sub/*.csv"]})
    assert s.inputs["C"] == {}
    assert s.skipped == ("elsewhere/sub: symbolic link leads outside the repository",)


def test_symlink_into_git_dir_is_skipped(project: Path) -> None:
    os.symlink("../.git/config", project / "data/gitconfig")
    s = snap(project)
    assert "data/gitconfig" not in s.inputs["C"]
    assert s.skipped == ("data/gitconfig: symbolic link leads outside the repository",)


def test_symlink_loop_is_an_input_error_naming_it(project: Path) -> None:
    """A loop cannot be read by anyone, root included (ELOOP)."""
    os.symlink("loop-b", project / "data/loop-a")
    os.symlink("loop-a", project / "data/loop-b")
    with pytest.raises(InputError, match=r"^data/loop-a: cannot read watched input"):
        snap(project)


def test_dangling_symlink_is_an_input_error(project: Path) -> None:
    os.symlink("nowhere.csv", project / "data/dangling.csv")
    with pytest.raises(InputError, match=r"^data/dangling\.csv: cannot read"):
        snap(project)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads chmod 000 files; see the next test")
def test_unreadable_file_is_an_input_error_naming_it(project: Path) -> None:
    (project / "data/raw/a.csv").chmod(0)
    with pytest.raises(InputError, match=r"^data/raw/a\.csv: cannot read watched input"):
        snap(project)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
def test_unreadable_file_for_root_without_dac_override(project: Path) -> None:
    """As root, chmod 000 proves nothing (CAP_DAC_OVERRIDE reads it anyway), so the
    snapshot runs in a child process whose capability bounding set lacks the two
    capabilities that bypass file permissions: it then meets the real EACCES."""
    (project / "data/raw/a.csv").chmod(0)
    drop = "-dac_override,-dac_read_search"
    code = (
        "import sys; from pathlib import Path; from seid.errors import InputError\n"
        "from seid.snapshot import take_snapshot; from seid.statcache import StatCache\n"
        "try:\n"
        "    take_snapshot(Path(sys.argv[1]), {'C': ['data']}, StatCache(None))\n"
        "except InputError as e:\n    print(e)\n"
    )
    proc = subprocess.run(
        ["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", "--",
         sys.executable, "-c", code, str(project)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.stdout.strip() == "data/raw/a.csv: cannot read watched input: Permission denied", (
        proc.stderr
    )


def test_fifo_is_skipped_not_opened(project: Path) -> None:
    os.mkfifo(project / "data/pipe.csv")
    s = snap(project)
    assert s.skipped == ("data/pipe.csv: not a regular file",)


def test_lock_digest_recorded(project: Path) -> None:
    assert snap(project).lock_digest is None
    write(project, "dvc.lock", "schema: '2.0'\n")
    assert snap(project).lock_digest == sha(b"schema: '2.0'\n")
