"""Run benchmarks against seid as installed: from compiled bytecode.

``pip install`` compiles every module, so a user's ``seid`` never compiles its sources at
start-up; the peers measured beside it (dvc, git) are installed and compiled too. A
shell with ``PYTHONDONTWRITEBYTECODE`` set (as this project's machines have) would
otherwise charge seid, and only seid, the compiler on every run.
"""

from __future__ import annotations

import compileall
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def as_installed() -> None:
    """Compile seid's modules and let every measured subprocess use the bytecode."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    compileall.compile_dir(ROOT / "seid", quiet=1)
