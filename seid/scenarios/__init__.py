"""Shipped scenarios: complete example projects for ``make demo`` and end-to-end tests.

Each scenario is a directory of data files (a manifest, pipeline scripts, claims), not
Python modules; copy it into a fresh repository to run it.
"""

from __future__ import annotations

from pathlib import Path

from seid.errors import SeidError

SCENARIOS_DIR = Path(__file__).resolve().parent


def names() -> list[str]:
    """The shipped scenarios, by directory name."""
    return sorted(p.name for p in SCENARIOS_DIR.iterdir() if (p / "sei.yaml").is_file())


def scenario_dir(name: str) -> Path:
    """The directory of scenario ``name`` (e.g. ``loan``)."""
    if name not in names():
        raise SeidError(f"no scenario {name!r}; shipped: {', '.join(names())}")
    return SCENARIOS_DIR / name
