"""Atomic writes: whole or nothing, modes, and no clobbering when asked."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from seid.fsutil import atomic_output, sei_dir, write_atomic


def test_replaces_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "plan.yaml"
    target.write_bytes(b"old")
    write_atomic(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["plan.yaml"]


def test_mode_is_applied(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    write_atomic(target, b"x", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_no_clobber_keeps_the_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "sei.yaml"
    target.write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        write_atomic(target, b"theirs", replace=False)
    assert target.read_bytes() == b"mine"
    assert os.listdir(tmp_path) == ["sei.yaml"]


def test_missing_directory_raises_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "absent" / "f", b"x")
    assert os.listdir(tmp_path) == []


def test_atomic_output_streams_seeks_and_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "model.seid"
    target.write_bytes(b"old")
    with atomic_output(target, mode=0o640, prefix=".part.") as out:
        out.write(bytes(8))
        out.write(b"payload")
        out.seek(0)
        out.write(b"HEADER!!")  # rewritten in place, as the container header is
        [temp] = [p for p in os.listdir(tmp_path) if p != "model.seid"]
        assert temp.startswith(".part.") and temp.endswith(".tmp")
        assert target.read_bytes() == b"old"  # nothing visible until the block ends
    assert target.read_bytes() == b"HEADER!!payload"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["model.seid"]


def test_atomic_output_failure_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as out:
        out.write(b"half")
        raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["report.html"]


def test_sei_dir_keeps_all_but_trust_out_of_git(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (sei_dir(tmp_path, "ledger", "abc") / "log").write_bytes(b"entry")
    (sei_dir(tmp_path, "trust") / "k.pub").write_bytes(b"key")
    (sei_dir(tmp_path, "logs") / "run.log").write_bytes(b"out")
    listed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(p for p in listed if p != "??") == [".sei/.gitignore", ".sei/trust/k.pub"]
