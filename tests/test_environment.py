"""The environment record of a bundle."""

from __future__ import annotations

import platform
import re
import subprocess
import sys

from seid.environment import environment, host, packages_digest


def test_environment_fields() -> None:
    env = environment()
    assert env["python"] == platform.python_version()
    assert re.fullmatch(r"[0-9a-f]{64}", env["packages_digest"])
    assert host()


def test_packages_digest_is_stable_across_processes_and_tracks_the_set() -> None:
    code = "from seid.environment import packages_digest; print(packages_digest())"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert other == packages_digest()
    # a different interpreter environment (no site-packages) gives a different digest
    bare = subprocess.run(
        [sys.executable, "-S", "-c", "import sys; sys.path.insert(0, '.'); " + code],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert bare != packages_digest()
