"""Strict JSON with positions: the JSON twin of :mod:`seid.yamlsafe`.

The standard ``json`` module forgets where a value was written, resolves duplicate
names last-wins and accepts ``NaN`` and ``Infinity``. Evidence inputs (claims, metrics)
need the opposite on all three counts, so this small reader returns the same
:class:`~seid.yamlsafe.Located` value as the YAML loader and refuses, with line:col,
what I-JSON (RFC 7493) refuses: duplicate names, non-finite or out-of-range numbers,
lone surrogates, plus nesting deeper than :data:`MAX_DEPTH`.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from pathlib import Path
from typing import Any

from seid.errors import InputError
from seid.yamlsafe import MAX_BYTES, Located, PathKey, check_controls, read_text

MAX_DEPTH = 64

_WS = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*"')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LITERALS: tuple[tuple[str, Any], ...] = (("true", True), ("false", False), ("null", None))
_NON_FINITE = ("NaN", "Infinity", "-Infinity")


_PLAIN_KEY = re.compile(r"[\w@/+-]+")


def field_name(loc: PathKey) -> str:
    """A dotted field name for messages; odd keys are quoted so no raw control gets out."""
    parts = (p if isinstance(p, str) and _PLAIN_KEY.fullmatch(p) else repr(p) for p in loc)
    return ".".join(parts)


class _Reader:
    """One pass over the text; records the place of every value and key."""

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.starts = [0, *(m.end() for m in re.finditer("\n", text))]
        self.values: dict[PathKey, tuple[int, int]] = {}
        self.keys: dict[PathKey, tuple[int, int]] = {}

    def where(self, index: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, index)
        return line, index - self.starts[line - 1] + 1

    def error(self, index: int, message: str) -> InputError:
        return InputError(self.name, message, *self.where(index))

    def skip(self, index: int) -> int:
        match = _WS.match(self.text, index)
        assert match is not None  # the pattern matches the empty string
        return match.end()

    def value(self, index: int, loc: PathKey, depth: int) -> tuple[Any, int]:
        index = self.skip(index)
        self.values[loc] = self.where(index)
        char = self.text[index : index + 1]
        if char in ("{", "["):
            if depth >= MAX_DEPTH:
                raise self.error(index, f"nested deeper than {MAX_DEPTH} levels")
            if char == "{":
                return self.object(index + 1, loc, depth + 1)
            return self.array(index + 1, loc, depth + 1)
        if char == '"':
            return self.string(index)
        for literal, result in _LITERALS:
            if self.text.startswith(literal, index):
                return result, index + len(literal)
        field = f"{field_name(loc)}: " if loc else ""
        if self.text.startswith(_NON_FINITE, index):
            raise self.error(index, f"{field}NaN and Infinity are not JSON numbers")
        match = _NUMBER.match(self.text, index)
        if match is None:
            raise self.error(index, f"{field}expected a JSON value")
        token = match.group()
        try:
            if match.group(1) is None and match.group(2) is None:
                return int(token), match.end()
            number = float(token)
        except ValueError:
            raise self.error(index, f"{field}number has too many digits") from None
        if not math.isfinite(number):
            raise self.error(index, f"{field}{token} is not a finite float64 number")
        return number, match.end()

    def string(self, index: int) -> tuple[str, int]:
        match = _STRING.match(self.text, index)
        if match is None:
            raise self.error(index, "unterminated string, or a raw control character in it")
        try:
            result = json.loads(match.group())
        except json.JSONDecodeError as exc:
            raise self.error(index + exc.pos, f"invalid JSON string: {exc.msg}") from None
        try:
            result.encode("utf-8")
        except UnicodeEncodeError:
            raise self.error(index, "string holds a lone surrogate escape") from None
        return result, match.end()

    def object(self, index: int, loc: PathKey, depth: int) -> tuple[dict[str, Any], int]:
        result: dict[str, Any] = {}
        index = self.skip(index)
        if self.text.startswith("}", index):
            return result, index + 1
        while True:
            if not self.text.startswith('"', index):
                raise self.error(index, "expected a quoted name")
            key, end = self.string(index)
            if key in result:
                raise self.error(index, f"duplicate key {key!r}")
            self.keys[(*loc, key)] = self.where(index)
            index = self.skip(end)
            if not self.text.startswith(":", index):
                raise self.error(index, "expected ':' after a name")
            result[key], index = self.value(index + 1, (*loc, key), depth)
            index = self.skip(index)
            if self.text.startswith("}", index):
                return result, index + 1
            if not self.text.startswith(",", index):
                raise self.error(index, "expected ',' or '}'")
            index = self.skip(index + 1)

    def array(self, index: int, loc: PathKey, depth: int) -> tuple[list[Any], int]:
        result: list[Any] = []
        index = self.skip(index)
        if self.text.startswith("]", index):
            return result, index + 1
        while True:
            item, index = self.value(index, (*loc, len(result)), depth)
            result.append(item)
            index = self.skip(index)
            if self.text.startswith("]", index):
                return result, index + 1
            if not self.text.startswith(",", index):
                raise self.error(index, "expected ',' or ']'")
            index += 1


def load_json_text(text: str, name: str) -> Located:
    """Parse ``text`` strictly into plain Python values, recording every position."""
    reader = _Reader(text, name)
    data, end = reader.value(0, (), 0)
    end = reader.skip(end)
    if end != len(text):
        raise reader.error(end, "extra data after the JSON value")
    return Located(name, data, reader.values, reader.keys)


def load_json(
    path: Path,
    *,
    display: str | None = None,
    controls: bool = False,
    max_bytes: int = MAX_BYTES,
) -> Located:
    """Read and parse a JSON file strictly; ``controls`` also refuses control characters."""
    name = display or str(path)
    text = read_text(path, display=name, max_bytes=max_bytes)
    if controls:
        check_controls(text, name)
    return load_json_text(text, name)
