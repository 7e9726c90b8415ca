"""OSCAL documents as bytes: YAML as a person reads it, or JSON.

The YAML writer is PyYAML's block style written as text in one pass: a plan of 10,000
tasks is a million values, too many to go through a node graph or an event per value.
The rules below are PyYAML's own (``Emitter.analyze_scalar`` and
``choose_scalar_style``, block context, unlimited width), so the bytes are those of
:func:`reference_yaml`; a property test holds the two to each other on arbitrary
documents.

One departure from PyYAML's defaults, in both writers: a string holding a line
separator other than ``\\n`` (NEL, U+2028, U+2029) is double-quoted, where PyYAML would
write a multi-line single-quoted scalar.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import yaml

from seid.errors import SeidError
from seid.fsutil import write_atomic

Document = dict[str, Any]
_WIDTH: Final = 2**31 - 1  # no folding: the longest line libyaml and PyYAML allow
_INDENT: Final = 2
_EXOTIC_BREAKS: Final = re.compile("[\x85\u2028\u2029]")
_LINE_BREAKS: Final = re.compile("[\n\x85\u2028\u2029]")
# Neither printable ASCII nor the Unicode PyYAML writes as is (allow_unicode): such a
# string is double-quoted with escapes. The BOM is refused as text anywhere.
_SPECIAL: Final = re.compile(
    "[^\n\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010fffe]|\ufeff"
)
_FIRST_INDICATORS: Final = frozenset("#,[]{}&*!|>'\"%@`")
_WHITESPACE: Final = "\0 \t\r\n\x85\u2028\u2029"
# A block indicator after the first character: ': ' (or ':' at the end) and ' #'.
_INNER_INDICATOR: Final = re.compile(
    r":(?:[\0 \t\r\n\x85\u2028\u2029]|\Z)|[\0 \t\r\n\x85\u2028\u2029]#"
)
_ESCAPES: Final = {
    "\0": "0", "\x07": "a", "\x08": "b", "\x09": "t", "\x0a": "n", "\x0b": "v",
    "\x0c": "f", "\x0d": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N",
    "\u2028": "L", "\u2029": "P",
}  # fmt: skip
# PyYAML's implicit resolvers by first character, each set as one pattern: a plain
# scalar matching it would be read back as a bool, number, null or timestamp.
_IMPLICIT: Final = {
    first: re.compile("|".join(f"(?:{regexp.pattern})" for _, regexp in resolvers), re.X)
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
# Nothing here is an indicator, a break, an edge space or special: PyYAML writes such a
# string plain unless it resolves to another type, and then single-quoted.
_COMMON: Final = re.compile(r"[A-Za-z0-9_(/][A-Za-z0-9_ ./()=<>+,;-]*(?<! )")
_STR: Final = "tag:yaml.org,2002:str"
_REPRESENTER: Final[Any] = yaml.SafeDumper(None)  # type: ignore[arg-type]


def render(document: Document, *, json_output: bool = False) -> bytes:
    """Deterministic bytes: keys in the order given, no line wrapping."""
    if json_output:
        return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    out: list[str] = []
    _Writer(out.append).mapping(document, 0, first_inline=False)
    if out[-1].endswith("\n\n"):  # only a literal keeping its final breaks ends so:
        out.append("...\n")  # PyYAML closes it, lest they run into a next document
    return "".join(out).encode("utf-8")


def write_document(path: Path, data: bytes) -> None:
    """Write an OSCAL document atomically: never half a document."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError as exc:
        raise SeidError(f"cannot write {path}: {exc.strerror or exc}") from None


class Dumper(yaml.SafeDumper):
    """The reference :func:`render` reproduces: multi-line prose as literal blocks, as a
    person would write it; exotic line separators double-quoted."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if _EXOTIC_BREAKS.search(value) else "|" if "\n" in value else None
    return dumper.represent_scalar(_STR, value, style=style)


Dumper.add_representer(str, _represent_str)
Dumper.ignore_aliases = lambda self, data: True  # type: ignore[method-assign]  # render repeats


def reference_yaml(document: Document) -> str:
    """What :func:`render` writes, by PyYAML's own dumper (slow; for tests and doubt)."""
    text: str = yaml.dump(
        document,
        Dumper=Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=_WIDTH,
    )
    return text


class _Writer:
    """PyYAML's block layout: mappings indent by two, sequences in a mapping do not.

    Rendered scalars are remembered: keys, enum values and namespaces repeat
    thousands of times in a plan."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self.keys: dict[str, str] = {}  # key -> "key:"
        self.texts: dict[object, str] = {}  # scalar -> " text\n"; literal blocks not kept

    def mapping(self, value: dict[str, Any], indent: int, *, first_inline: bool) -> None:
        pad = " " * indent
        write, keys, texts = self.write, self.keys, self.texts
        for number, (key, item) in enumerate(value.items()):
            head = keys.get(key) or self.key(key)
            if number or not first_inline:
                head = pad + head
            if item.__class__ is str:  # most of a document: written in one piece
                write(head + (texts.get(item) or self.scalar(item, indent + _INDENT)))
            else:
                write(head)
                self.value(item, indent, in_mapping=True)

    def sequence(self, value: list[Any], indent: int, *, first_inline: bool) -> None:
        pad = " " * indent
        for number, item in enumerate(value):
            if item.__class__ is dict and item:
                self.write("- " if number == 0 and first_inline else pad + "- ")
                self.mapping(item, indent + _INDENT, first_inline=True)
            else:
                self.write("-" if number == 0 and first_inline else pad + "-")
                self.value(item, indent, in_mapping=False)

    def value(self, item: Any, indent: int, *, in_mapping: bool) -> None:
        """``item`` after ``key:`` or ``-`` at ``indent``."""
        if isinstance(item, dict):
            if not item:
                self.write(" {}\n")
            elif in_mapping:
                self.write("\n")
                self.mapping(item, indent + _INDENT, first_inline=False)
            else:
                self.write(" ")
                self.mapping(item, indent + _INDENT, first_inline=True)
        elif isinstance(item, list):
            if not item:
                self.write(" []\n")
            elif in_mapping:  # indentless, as PyYAML writes a sequence in a mapping
                self.write("\n")
                self.sequence(item, indent, first_inline=False)
            else:
                self.write(" ")
                self.sequence(item, indent + _INDENT, first_inline=True)
        else:
            text = self.texts.get(item if isinstance(item, str) else (type(item), repr(item)))
            self.write(text if text is not None else self.scalar(item, indent + _INDENT))

    def key(self, key: str) -> str:
        """A key as PyYAML writes a simple key: one line, under 128 characters (OSCAL's
        field names are plain), not empty. Anything else would be a complex ``?`` key:
        refused."""
        text = _one_line(key) if isinstance(key, str) and 0 < len(key) < 128 else None
        if text is None or _LINE_BREAKS.search(key):
            raise ValueError(f"not a simple mapping key: {key!r}")
        self.keys[key] = text = text + ":"
        return text

    def scalar(self, value: Any, indent: int) -> str:
        if not isinstance(value, str):
            self.texts[(type(value), repr(value))] = text = f" {_other(value)}\n"
            return text
        one_line = _one_line(value)
        if one_line is None:
            return _literal(value, indent)
        self.texts[value] = text = f" {one_line}\n"
        return text


def _one_line(value: str) -> str | None:
    """The scalar as PyYAML writes it, or None for a literal block."""
    if _COMMON.fullmatch(value):  # most of a plan: ids, uuids, names, short prose
        return value if _resolves_to_str(value) else f"'{value}'"
    if _EXOTIC_BREAKS.search(value) or _SPECIAL.search(value):
        return _double_quoted(value)
    if "\n" in value:
        if value.endswith(" ") or " \n" in value:
            return _double_quoted(value)  # a literal block cannot keep these spaces
        return None
    if _plain_allowed(value) and _resolves_to_str(value):
        return value
    return "'" + value.replace("'", "''") + "'"


def _plain_allowed(value: str) -> bool:
    """PyYAML's ``allow_block_plain`` for a one-line string."""
    if not value or value[0] == " " or value[-1] == " ":
        return False
    first = value[0]
    if first in _FIRST_INDICATORS:
        return False
    if first in "?:-" and (len(value) == 1 or value[1] in _WHITESPACE):
        return False
    if value.startswith(("---", "...")):
        return False
    return _INNER_INDICATOR.search(value) is None


def _resolves_to_str(value: str) -> bool:
    """Read back plain, would the text still be a string (not a bool, number, null)?"""
    other = _IMPLICIT.get(value[:1])
    return other is None or other.match(value) is None


def _double_quoted(value: str) -> str:
    parts = ['"']
    for ch in value:
        if ch in _ESCAPES:
            parts.append("\\" + _ESCAPES[ch])
        elif ch != "\ufeff" and (
            "\x20" <= ch <= "\x7e" or "\xa0" <= ch <= "\ud7ff" or "\ue000" <= ch <= "\ufffd"
        ):
            parts.append(ch)
        elif ch <= "\xff":
            parts.append(f"\\x{ord(ch):02X}")
        elif ch <= "\uffff":
            parts.append(f"\\u{ord(ch):04X}")
        else:
            parts.append(f"\\U{ord(ch):08X}")
    parts.append('"')
    return "".join(parts)


def _literal(value: str, indent: int) -> str:
    """``|`` with PyYAML's hints: ``2`` when the text starts with a space or a break,
    ``-`` without a final break, ``+`` with more than one."""
    hints = str(_INDENT) if value[0] in " \n" else ""
    if not value.endswith("\n"):
        hints += "-"
    elif len(value) == 1 or value[-2] == "\n":
        hints += "+"
    pad = " " * indent
    body = "".join(f"{pad}{line}\n" if line else "\n" for line in value.split("\n")[:-1])
    last = value.rsplit("\n", 1)[1]
    return f" |{hints}\n{body}{pad + last + chr(10) if last else ''}"


def _other(value: Any) -> str:
    """A bool, number or null as PyYAML's SafeRepresenter writes it."""
    node = _REPRESENTER.represent_data(value)
    text: str = node.value
    return text


def _simple_key(key: Any, text: str) -> bool:
    return isinstance(key, str) and text == key and "\n" not in key
