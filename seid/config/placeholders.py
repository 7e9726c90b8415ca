"""The ``EDIT`` placeholders ``seid init`` writes, found where they are still untouched.

A starter manifest is valid on purpose (a newcomer can run ``seid analyze`` at once), so
its placeholders (``intended_purpose: EDIT what the system decides``) would otherwise go
into evidence as if someone had written them. ``analyze`` and ``compile`` warn about
each one at its ``path:line:col``; ``seid run`` refuses to attest a manifest with any.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from seid.errors import InputError
from seid.fsutil import shown_path
from seid.locate import manifest_path
from seid.yamlsafe import load_yaml_text, read_text, walk_strings

PLACEHOLDER = re.compile(r"EDIT\b")
_SHOWN = 40


@dataclass(frozen=True)
class Placeholder:
    """One untouched placeholder value and where it is written."""

    path: str
    line: int | None
    col: int | None
    value: str

    @property
    def what(self) -> str:
        shown = self.value if len(self.value) <= _SHOWN else self.value[: _SHOWN - 3] + "..."
        return f"placeholder {shown!r} from seid init"

    def warning(self) -> str:
        where = ":".join(str(part) for part in (self.path, self.line, self.col) if part is not None)
        return f"{where}: warning: {self.what}; replace it (seid run refuses to attest it)"


def placeholders(root: Path) -> list[Placeholder]:
    """Every value of the project's manifest that is still an ``EDIT`` placeholder."""
    path = manifest_path(root)
    name = shown_path(path)
    text = read_text(path, display=name)
    if "EDIT" not in text:  # the common case: no second parse of a large manifest
        return []
    located = load_yaml_text(text, name)
    found: dict[tuple[int | None, int | None], Placeholder] = {}
    for loc, value in walk_strings(located.data):
        if PLACEHOLDER.match(value):
            line, col = located.where(loc)
            found.setdefault((line, col), Placeholder(name, line, col, value))
    return list(found.values())


def warn_placeholders(root: Path) -> list[str]:
    """One warning line per placeholder, for ``analyze`` and ``compile`` to print."""
    return [found.warning() for found in placeholders(root)]


def refuse_placeholders(root: Path) -> None:
    """Raise at the first placeholder: evidence must not attest text nobody wrote."""
    found = placeholders(root)
    if found:
        first = found[0]
        more = f" (and {len(found) - 1} more; `seid analyze` lists them)" if len(found) > 1 else ""
        raise InputError(
            first.path,
            f"{first.what} is still here: replace it before seid run attests{more}",
            first.line,
            first.col,
        )
