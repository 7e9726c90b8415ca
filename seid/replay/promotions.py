"""Which git tags are promotions: the registry conventions, not every tag.

A tag is a promotion when a model registry convention says so, or the team does:

- GTO, the DVC model registry (its tags are the registry): ``<model>@v<semver>``
  registers a version, ``<model>#<stage>#<n>`` (or ``<model>#<stage>``) assigns a
  stage; the GTO documentation names these forms;
- the patterns ``sei.yaml`` declares under ``replay: {promotion_tags: [...]}``.

Other tags (``0-git-init``, ``3-config-remote`` in a tutorial's history) mark commits,
not releases, and are never judged as promotions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from fnmatch import fnmatchcase

_NAME = r"[A-Za-z0-9][A-Za-z0-9._/-]*"
_SEMVER = r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?"
_GTO_VERSION = re.compile(rf"(?P<model>{_NAME})@v(?P<version>{_SEMVER})")
_GTO_STAGE = re.compile(rf"(?P<model>{_NAME})#(?P<stage>[A-Za-z0-9._-]+)(?:#(?P<n>\d+))?")


def promotion(tag: str, patterns: Iterable[str] = ()) -> str | None:
    """What promoting ``tag`` says, for a finding; None when it is no promotion."""
    version = _GTO_VERSION.fullmatch(tag)
    if version is not None:
        return f"GTO: {version['model']} version v{version['version']} registered (tag {tag})"
    stage = _GTO_STAGE.fullmatch(tag)
    if stage is not None:
        return f"GTO: {stage['model']} assigned to stage {stage['stage']} (tag {tag})"
    for pattern in patterns:
        if fnmatchcase(tag, pattern):
            return f"tag {tag}, a promotion by replay.promotion_tags ({pattern})"
    return None
