"""Run benchmarks against seid as installed: from compiled bytecode.

``pip install`` compiles every module, so a user's ``seid`` never compiles its sources at
start-up; the peers measured beside it (dvc, git) are installed and compiled too. A
shell with ``PYTHONDONTWRITEBYTECODE`` set (as this project's machines have) would
otherwise charge seid, and only seid, the compiler on every run.
"""

from __future__ import annotations

import compileall
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def as_installed() -> None:
    """Compile seid's modules and let every measured subprocess use the bytecode."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    compileall.compile_dir(ROOT / "seid", quiet=1)


def ed25519_verifies_per_second(seconds: int = 3) -> float:
    """``openssl speed ed25519``'s verifications per second on one core, measured now:
    the floor under any signature check, so a verify rate is read against this machine
    as it is during the run (its speed has varied twofold between days)."""
    out = subprocess.run(
        ["openssl", "speed", "-seconds", str(seconds), "ed25519"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for line in out.splitlines():
        if "Ed25519" in line:  # "253 bits EdDSA (Ed25519) <s> <s> <sign/s> <verify/s>"
            return float(line.split()[-1])
    raise SystemExit(f"openssl speed ed25519: no result in {out!r}")
