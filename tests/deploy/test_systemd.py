"""The shipped systemd units: `systemd-analyze verify` and the offline security review.

The units start ``/opt/seid/bin/seid`` (the documented install location); this machine
has seid in the project's virtualenv instead, so the copy under test has that one path
rewritten to the seid being tested and nothing else.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

UNITS = ROOT / "systemd"
INSTALLED = "/opt/seid/bin/seid"
REQUIRED = [
    "Type=notify",
    "WatchdogSec=",
    "User=seid",
    "ProtectSystem=strict",
    "ReadWritePaths=",
    "NoNewPrivileges=yes",
    "PrivateTmp=yes",
    "ProtectHome=read-only",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "RestrictAddressFamilies=",
    "SystemCallFilter=@system-service",
    "CapabilityBoundingSet=\n",
]


def _seid_binary() -> str:
    found = Path(sys.executable).with_name("seid")
    assert found.exists(), "seid console script not installed next to the interpreter"
    return str(found)


def _copy(unit: str, as_name: str, tmp_path: Path) -> Path:
    text = (UNITS / unit).read_text()
    assert INSTALLED in text
    target = tmp_path / as_name
    target.write_text(text.replace(INSTALLED, _seid_binary()))
    return target


@pytest.fixture(autouse=True)
def _needs_systemd_analyze() -> None:
    assert shutil.which("systemd-analyze"), "systemd-analyze missing: .ci/run installs systemd"


@pytest.mark.parametrize(
    ("unit", "as_name"),
    [("seid.service", "seid.service"), ("seid@.service", "seid@srv-ml-credit.service")],
)
def test_units_verify(unit: str, as_name: str, tmp_path: Path) -> None:
    path = _copy(unit, as_name, tmp_path)
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ""


@pytest.mark.parametrize("unit", ["seid.service", "seid@.service"])
def test_exposure_is_at_most_2_5(unit: str) -> None:
    proc = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNITS / unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    assert float(match.group(1)) <= 2.5


@pytest.mark.parametrize("unit", ["seid.service", "seid@.service"])
def test_hardening_directives_present(unit: str) -> None:
    text = (UNITS / unit).read_text()
    for directive in REQUIRED:
        assert f"\n{directive}" in text, directive


def test_instance_unit_is_bound_to_its_repository() -> None:
    text = (UNITS / "seid@.service").read_text()
    assert "ExecStart=/opt/seid/bin/seid daemon %f\n" in text
    assert "ReadWritePaths=%f\n" in text
