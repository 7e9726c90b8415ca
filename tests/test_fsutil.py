"""Atomic writes (whole or nothing, modes, no clobbering when asked); regular-file reads."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from seid.errors import InputError
from seid.fsutil import atomic_output, open_regular, sei_dir, shown_path, write_atomic
from tests.conftest import SeidRunner, assert_one_line_error


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


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (lambda p: os.mkfifo(p), "is a FIFO"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.symlink_to("/dev/null"), "is a character device"),
    ],
)
def test_only_regular_files_are_opened(tmp_path: Path, make: Any, what: str) -> None:
    """A FIFO opened for reading would wait for a writer for ever: refused at once."""
    path = tmp_path / "metrics.json"
    make(path)
    with pytest.raises(InputError, match=f"metrics.json: {what}, not a regular file"):
        open_regular(path)


def test_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"ok")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with open_regular(tmp_path / "link") as fh:
        assert fh.read() == b"ok"


def test_a_fifo_as_a_trusted_key_is_one_line_not_a_hang(
    seid: SeidRunner, command_project: tuple[Path, Path]
) -> None:
    repo, _ = command_project
    os.mkfifo(repo / ".sei" / "trust" / "0123abcd.pub")
    result = seid("verify", cwd=repo, timeout=30)
    assert_one_line_error(result, "0123abcd.pub: is a FIFO, not a regular file")


def test_a_fifo_as_the_metrics_file_is_a_gate_error(command_project: tuple[Path, Path]) -> None:
    from seid import keys
    from seid.run import run

    repo, key = command_project
    (repo / "params.json").write_text(json.dumps({"gap": 0.01, "no_metrics": True}))
    os.mkfifo(repo / "metrics.json")
    report = run(repo, keys.load_signer(key), echo=False)
    assert report.gate == "error" and report.result is not None
    assert "metrics.json: is a FIFO, not a regular file" in str(report.result.error)


def test_a_sei_dir_leading_out_of_the_repository_gets_nothing_written(
    seid: SeidRunner, command_project: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, key = command_project
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(repo / ".sei")
    (repo / ".sei").symlink_to(elsewhere)
    for command in (["status"], ["run", "--force"]):
        result = seid(*command, cwd=repo, extra_env={"SEID_SIGNING_KEY": str(key)})
        assert_one_line_error(result, ".sei/ leads out of the repository")
    assert list(elsewhere.iterdir()) == []


def test_sei_dir_writes_its_gitignore_with_the_cache(
    seid: SeidRunner, command_project: tuple[Path, Path]
) -> None:
    repo, _ = command_project
    shutil.rmtree(repo / ".sei" / "cache", ignore_errors=True)
    (repo / ".sei" / ".gitignore").unlink(missing_ok=True)
    seid("status", cwd=repo)
    assert (repo / ".sei" / "cache" / "stat.sqlite").is_file()
    assert (repo / ".sei" / ".gitignore").is_file()
    argv = ["git", "status", "--porcelain", "--untracked-files=all", "--", ".sei"]
    untracked = subprocess.run(argv, cwd=repo, capture_output=True, text=True).stdout
    assert [line for line in untracked.splitlines() if line.startswith("??")] == []


def test_a_path_is_shown_as_the_user_would_type_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert shown_path(deep / "sei.yaml") == "sei.yaml"
    assert shown_path(deep / "d" / "x.yaml") == "d/x.yaml"
    sibling = tmp_path / "a" / "b" / "claims" / "x.yaml"
    assert shown_path(sibling) == str(sibling)  # not ../claims/x.yaml: that depends on cwd
    assert shown_path(Path("/etc/hostname")) == "/etc/hostname"
