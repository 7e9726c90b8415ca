"""The errors a user sees: one line each, never a traceback.

Every module raises a subclass of :class:`SeidError`; the CLI prints ``str(err)`` on
stderr and exits with ``err.exit_code``. Anything else escaping is a bug.
"""

from __future__ import annotations

from pathlib import Path


def shown(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut to about ``limit`` characters: an error line quotes what it
    refuses without printing a 40,000-digit number or a 24 KB string in full."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 12]}... ({len(text)} chars)"


def line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``: where an editor shows it."""
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)


class SeidError(Exception):
    """An error the user can act on. Exit status 2, as for usage and input errors."""

    exit_code = 2


class InputError(SeidError):
    """A bad input file, located as ``path:line:col: what is wrong``.

    Line and column are 1-based, as editors and compilers print them.
    """

    def __init__(
        self, path: str | Path, message: str, line: int | None = None, col: int | None = None
    ) -> None:
        self.path = str(path)
        self.message = message
        self.line = line
        self.col = col
        where = self.path
        if line is not None:
            where += f":{line}"
            if col is not None:
                where += f":{col}"
        super().__init__(f"{where}: {message}")


class VerificationError(SeidError):
    """Evidence that does not verify: a finding, not a usage error (exit 1)."""

    exit_code = 1


class ToolMissingError(SeidError):
    """An optional pipeline tool is not installed; names the extra that brings it."""

    def __init__(self, tool: str, extra: str) -> None:
        super().__init__(f"{tool} is not installed: pip install 'seid[{extra}]'")
