"""The top-level command: lazy groups, one-line errors, exit statuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seid.cli.main import COMMANDS
from tests.conftest import SeidRunner, assert_one_line_error


def test_help_lists_every_command_with_one_line(seid: SeidRunner) -> None:
    result = seid("--help")
    assert result.code == 0
    for name, (_, _, summary) in COMMANDS.items():
        assert f"{name}  " in result.out
        assert summary in result.out


def test_every_listed_command_imports(seid: SeidRunner) -> None:
    for name in COMMANDS:
        result = seid(name, "--help")
        assert result.code == 0, (name, result.err)
        assert "Usage: seid " + name in result.out


def test_unknown_command_is_a_usage_error(seid: SeidRunner) -> None:
    result = seid("frobnicate")
    assert result.code == 2
    assert "No such command" in result.err


def test_missing_directory_is_one_line(seid: SeidRunner, tmp_path: Path) -> None:
    assert_one_line_error(seid("-C", tmp_path / "absent", "status"), "absent")


def test_help_imports_no_pipeline_tool() -> None:
    probe = (
        "import sys\n"
        "from seid.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('dvc', 'mlflow', 'dagster', 'trestle') if m in sys.modules)\n"
        "print(','.join(heavy), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert proc.stderr.strip() == ""


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_on_a_full_disk_is_one_line_and_status_1(env: dict[str, str]) -> None:
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "seid", "--version"],
            stdout=full,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            check=False,
        )
    assert proc.returncode == 1
    assert proc.stderr == "seid: No space left on device\n"  # no traceback, nothing ignored
