"""Strict YAML (and JSON) loading for manifests that are evidence.

A manifest is read once, strictly, and every value keeps the place it came from, so a
later validation error can still say ``path:line:col``. Refused outright, because each
one lets two readers see different documents or lets a small file grow without bound:
duplicate keys, anchors and aliases (alias bombs), explicit or custom tags, files over
1 MiB, bytes that are not UTF-8, and more than one document. Timestamps stay strings:
a claim's ``created_at`` is hashed as written, not as a parser re-renders it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from seid.errors import InputError
from seid.fsutil import open_regular

MAX_BYTES = 1 << 20
MAX_DEPTH = 64

PathKey = tuple[str | int, ...]

# Control characters a manifest may not carry, anywhere: C0 but TAB/LF/CR, DEL, C1,
# the Unicode line and paragraph separators, and the byte-order mark.
_FORBIDDEN = {c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)}
_FORBIDDEN |= {0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, 0xFEFF}


@dataclass(frozen=True)
class Located:
    """A loaded document and, for every path inside it, where it was written."""

    path: str
    data: Any
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def where(self, loc: PathKey, *, key: bool = False) -> tuple[int | None, int | None]:
        """Line and column (1-based) of ``loc``, or of its nearest located parent."""
        table = self.keys if key else self.values
        probe = tuple(loc)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (None, None))

    def error(self, loc: PathKey, message: str, *, key: bool = False) -> InputError:
        line, col = self.where(loc, key=key)
        return InputError(self.path, message, line, col)


def read_text(path: Path, *, display: str | None = None, max_bytes: int = MAX_BYTES) -> str:
    """The file's text, refusing what no manifest should be: huge, or not UTF-8."""
    name = display or str(path)
    try:
        with open_regular(path, name) as fh:
            raw = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise InputError(name, "no such file") from None
    except IsADirectoryError:
        raise InputError(name, "is a directory, not a file") from None
    except OSError as exc:
        raise InputError(name, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise InputError(name, f"file is larger than {max_bytes} bytes; refusing to parse it")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError(name, "not valid UTF-8", line, col) from None


def check_controls(text: str, name: str) -> None:
    """Refuse forbidden control characters in the raw text, before any parser folds them."""
    for index, char in enumerate(text):
        if ord(char) in _FORBIDDEN:
            line = text.count("\n", 0, index) + 1
            col = index - (text.rfind("\n", 0, index) + 1) + 1
            raise InputError(name, f"forbidden control character U+{ord(char):04X}", line, col)


_BASE: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BASE):  # type: ignore[misc,valid-type]
    """SafeLoader without timestamps; anchors, aliases and tags are refused in compose.

    On libyaml when PyYAML was built with it (wheels are): the same documents and
    marks, several times faster than the pure-Python scanner.
    """


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _check_events(text: str, name: str) -> None:
    """One pass over the event stream: anchors, aliases, tags, depth, extra documents."""
    documents = 0
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_StrictLoader):
            mark = event.start_mark
            where = (mark.line + 1, mark.column + 1) if mark else (None, None)
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise InputError(name, f"nested deeper than {MAX_DEPTH} levels", *where)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            if isinstance(event, yaml.AliasEvent):
                raise InputError(name, "YAML aliases are not allowed", *where)
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise InputError(name, "more than one YAML document", *where)
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                raise InputError(name, f"YAML anchors are not allowed (&{anchor})", *where)
            # The parser leaves ``tag`` unset unless the file writes one (``!!str``, ``!x``).
            tag = getattr(event, "tag", None)
            if tag is not None and isinstance(event, yaml.NodeEvent):
                raise InputError(name, f"YAML tags are not allowed ({tag})", *where)
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, name) from None
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, name) from None
    except yaml.YAMLError as exc:
        raise InputError(name, f"invalid YAML: {exc}") from None


def _reader_error(exc: yaml.reader.ReaderError, text: str, name: str) -> InputError:
    """PyYAML refuses some characters before parsing; locate them in the text.

    Found again here rather than taken from the error, whose position libyaml gives in
    UTF-8 bytes and the pure-Python reader in characters.
    """
    found = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if found is not None:
        index, char = found.start(), found.group()
    else:
        index = len(text.encode("utf-8")[: exc.position].decode("utf-8", "ignore"))
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return InputError(name, f"character U+{ord(char):04X} is not allowed in YAML", line, col)


def _yaml_error(exc: yaml.MarkedYAMLError, name: str) -> InputError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    if mark is None:
        return InputError(name, f"invalid YAML: {problem}")
    return InputError(name, f"invalid YAML: {problem}", mark.line + 1, mark.column + 1)


def load_yaml_text(text: str, name: str) -> Located:
    """Parse ``text`` strictly into plain Python values, recording every position."""
    _check_events(text, name)
    loader = _StrictLoader(text)
    try:
        root = loader.get_single_node()
        located = Located(name, None)
        data = None if root is None else _convert(root, (), loader, located)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, name) from None
    except yaml.YAMLError as exc:
        raise InputError(name, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return Located(name, data, located.values, located.keys)


_INT_TAG = "tag:yaml.org,2002:int"
MAX_INT_DIGITS = 64  # nothing seid reads needs more; Python refuses past 4,300 anyway


def _scalar(node: ScalarNode, loader: _StrictLoader, name: str) -> Any:
    """A scalar's value; an integer too long to be a setting is refused at its place
    (converting one past Python's limit raised ValueError: a traceback in the CLI and a
    dead worker in the daemon)."""
    if node.tag == _INT_TAG and len(node.value) > MAX_INT_DIGITS:
        line, col = _mark(node)
        message = f"integer too long: {len(node.value)} characters (at most {MAX_INT_DIGITS})"
        raise InputError(name, message, line, col)
    try:
        return loader.construct_object(node, deep=True)
    except ValueError as exc:
        line, col = _mark(node)
        raise InputError(name, f"cannot read this value: {exc}", line, col) from None


def _convert(node: Node, loc: PathKey, loader: _StrictLoader, out: Located) -> Any:
    out.values[loc] = _mark(node)
    if isinstance(node, ScalarNode):
        return _scalar(node, loader, out.path)
    if isinstance(node, SequenceNode):
        return [_convert(item, (*loc, i), loader, out) for i, item in enumerate(node.value)]
    if isinstance(node, MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                line, col = _mark(key_node)
                raise InputError(out.path, "mapping keys must be plain scalars", line, col)
            key = _scalar(key_node, loader, out.path)
            if isinstance(key, bool | float) or key is None:
                line, col = _mark(key_node)
                raise InputError(
                    out.path, f"mapping key {key_node.value!r} is not a string", line, col
                )
            if key in result:
                line, col = _mark(key_node)
                raise InputError(out.path, f"duplicate key {key!r}", line, col)
            out.keys[(*loc, key)] = _mark(key_node)
            result[key] = _convert(value_node, (*loc, key), loader, out)
        return result
    raise InputError(out.path, "unsupported YAML node", *_mark(node))


def load_yaml(path: Path, *, display: str | None = None, controls: bool = False) -> Located:
    """Read and parse a YAML file strictly; ``controls`` also refuses control characters."""
    name = display or str(path)
    text = read_text(path, display=name)
    if controls:
        check_controls(text, name)
    return load_yaml_text(text, name)


def walk_strings(value: Any, loc: PathKey = ()) -> Iterator[tuple[PathKey, str]]:
    """Every string (keys included) in a loaded document, with where it sits."""
    if isinstance(value, str):
        yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield (*loc, key), key
            yield from walk_strings(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_strings(item, (*loc, index))
