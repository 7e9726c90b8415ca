"""Where a seid project is: the manifest file names, and the directory holding one.

Kept apart from :mod:`seid.config` (which re-exports it) because importing the manifest
model means importing pydantic, which costs more than a whole warm ``seid status``.
"""

from __future__ import annotations

from pathlib import Path

from seid.errors import SeidError

MANIFEST_NAMES = ("sei.yaml", "venth.yaml")  # sei.yaml wins; venth.yaml is the sei engine's


def find_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` that holds a manifest."""
    here = start.resolve()
    for directory in (here, *here.parents):
        if any((directory / name).is_file() for name in MANIFEST_NAMES):
            return directory
    names = " or ".join(MANIFEST_NAMES)
    raise SeidError(f"no {names} in {here} or any parent directory (run 'seid init')")


def manifest_path(root: Path) -> Path:
    """``sei.yaml`` in ``root``, else the sei engine's ``venth.yaml``."""
    for name in MANIFEST_NAMES:
        if (root / name).is_file():
            return root / name
    raise SeidError(f"no {' or '.join(MANIFEST_NAMES)} in {root} (run 'seid init')")
