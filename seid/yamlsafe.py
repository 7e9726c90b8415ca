"""Strict YAML (and JSON) loading for manifests that are evidence.

A manifest is read once, strictly, and every value keeps the place it came from, so a
later validation error can still say ``path:line:col``. Refused outright, because each
one lets two readers see different documents or lets a small file grow without bound:
duplicate keys, anchors and aliases (alias bombs), explicit or custom tags, files over
1 MiB, bytes that are not UTF-8, and more than one document. Timestamps stay strings:
a claim's ``created_at`` is hashed as written, not as a parser re-renders it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from yaml.nodes import ScalarNode

from seid.errors import InputError, line_col
from seid.fsutil import open_regular

MAX_BYTES = 1 << 20
MAX_DEPTH = 64

PathKey = tuple[str | int, ...]

# Control characters a manifest may not carry, anywhere: C0 but TAB/LF/CR, DEL, C1,
# the Unicode line and paragraph separators, and the byte-order mark.
_FORBIDDEN = {c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)}
_FORBIDDEN |= {0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, 0xFEFF}
_UNREADABLE = re.compile("[\ud800-\udfff\ufffe\uffff]")  # PyYAML refuses these, unplaced
_FORBIDDEN_CHARS = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_FORBIDDEN)) + "]")


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
        before = raw[: exc.start].decode("utf-8")
        raise InputError(name, "not valid UTF-8", *line_col(before, len(before))) from None


def check_controls(text: str, name: str) -> None:
    """Refuse forbidden control characters in the raw text, before any parser folds them."""
    found = _FORBIDDEN_CHARS.search(text)
    if found is not None:
        message = f"forbidden control character U+{ord(found.group()):04X}"
        raise InputError(name, message, *line_col(text, found.start()))


def check_readable(text: str, name: str) -> None:
    """Refuse, with its place, what PyYAML's reader would refuse without one."""
    found = _UNREADABLE.search(text)
    if found is not None:
        message = f"character U+{ord(found.group()):04X} is not allowed"
        raise InputError(name, message, *line_col(text, found.start()))


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
    return InputError(
        name, f"character U+{ord(char):04X} is not allowed in YAML", *line_col(text, index)
    )


def _yaml_error(exc: yaml.MarkedYAMLError, name: str) -> InputError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    if mark is None:
        return InputError(name, f"invalid YAML: {problem}")
    return InputError(name, f"invalid YAML: {problem}", mark.line + 1, mark.column + 1)


def load_yaml_text(text: str, name: str, *, max_depth: int = MAX_DEPTH) -> Located:
    """Parse ``text`` strictly into plain Python values, recording every position.

    One pass over libyaml's events builds the values and checks them (no anchors,
    aliases or tags, bounded depth, one document): no node graph in between.
    """
    loader = _StrictLoader(text)
    builder = _Builder(name, loader, max_depth)
    try:
        while loader.check_event():
            builder.feed(loader.get_event())
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, name) from None
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc, name) from None
    except yaml.YAMLError as exc:
        raise InputError(name, f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return Located(name, builder.root, builder.values, builder.keys)


_INT_TAG = "tag:yaml.org,2002:int"
_STR_TAG = "tag:yaml.org,2002:str"
MAX_INT_DIGITS = 64  # nothing seid reads needs more; Python refuses past 4,300 anyway
_NO_KEY: Any = object()


class _Frame:
    """An open mapping or sequence: where it sits, and a mapping's pending key."""

    __slots__ = ("container", "key", "loc")

    def __init__(self, container: dict[Any, Any] | list[Any], loc: PathKey) -> None:
        self.container = container
        self.loc = loc
        self.key: Any = _NO_KEY


class _Builder:
    """Plain values from parser events, each value's and key's place recorded."""

    def __init__(self, name: str, loader: _StrictLoader, max_depth: int) -> None:
        self.name = name
        self.max_depth = max_depth
        self.loader = loader
        self.root: Any = None
        self.values: dict[PathKey, tuple[int, int]] = {}
        self.keys: dict[PathKey, tuple[int, int]] = {}
        self.stack: list[_Frame] = []
        self.documents = 0
        self.plain_tags: dict[str, str] = {}

    def feed(self, event: yaml.Event) -> None:
        mark = event.start_mark
        where = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        if isinstance(event, yaml.ScalarEvent):
            self._refuse_anchor_and_tag(event, where)
            self._place(self._scalar(event, where), where, scalar=True)
        elif isinstance(event, yaml.CollectionStartEvent):
            self._refuse_anchor_and_tag(event, where)
            if len(self.stack) >= self.max_depth:
                message = f"nested deeper than {self.max_depth} levels"
                raise InputError(self.name, message, *where)
            container: dict[Any, Any] | list[Any] = (
                {} if isinstance(event, yaml.MappingStartEvent) else []
            )
            loc = self._place(container, where, scalar=False)
            self.stack.append(_Frame(container, loc))
        elif isinstance(event, yaml.CollectionEndEvent):
            self.stack.pop()
        elif isinstance(event, yaml.AliasEvent):
            raise InputError(self.name, "YAML aliases are not allowed", *where)
        elif isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise InputError(self.name, "more than one YAML document", *where)

    def _refuse_anchor_and_tag(self, event: yaml.NodeEvent, where: tuple[int, int]) -> None:
        if event.anchor is not None:
            raise InputError(self.name, f"YAML anchors are not allowed (&{event.anchor})", *where)
        # The parser leaves ``tag`` unset unless the file writes one (``!!str``, ``!x``).
        tag = getattr(event, "tag", None)
        if tag is not None:
            raise InputError(self.name, f"YAML tags are not allowed ({tag})", *where)

    def _scalar(self, event: yaml.ScalarEvent, where: tuple[int, int]) -> Any:
        """The value as SafeLoader (without timestamps) constructs it. An integer too long
        to be a setting is refused at its place (converting one past Python's limit raised
        ValueError: a traceback in the CLI and a dead worker in the daemon)."""
        value = event.value
        tag = _STR_TAG
        if event.implicit[0]:  # plain: its type is implied by its text, as YAML 1.1 reads it
            tag = self.plain_tags.get(value) or self._plain_tag(value)
        if tag == _STR_TAG:
            return value
        if tag == _INT_TAG and len(value) > MAX_INT_DIGITS:
            message = f"integer too long: {len(value)} characters (at most {MAX_INT_DIGITS})"
            raise InputError(self.name, message, *where)
        try:
            node = ScalarNode(tag, value, cast(yaml.Mark, event.start_mark))
            return self.loader.construct_object(node)
        except ValueError as exc:
            raise InputError(self.name, f"cannot read this value: {exc}", *where) from None

    def _plain_tag(self, value: str) -> str:
        tag: str = self.loader.resolve(ScalarNode, value, (True, False))
        if len(self.plain_tags) < 10_000:  # keys and enum values repeat; ids do not
            self.plain_tags[value] = tag
        return tag

    def _place(self, value: Any, where: tuple[int, int], *, scalar: bool) -> PathKey:
        """Put ``value`` where the open container expects it; returns its path."""
        if not self.stack:
            self.root = value
            self.values[()] = where
            return ()
        frame = self.stack[-1]
        if isinstance(frame.container, list):
            loc = (*frame.loc, len(frame.container))
            frame.container.append(value)
        elif frame.key is _NO_KEY:
            self._key(frame, value, where, scalar=scalar)
            return ()
        else:
            loc = (*frame.loc, frame.key)
            frame.container[frame.key] = value
            frame.key = _NO_KEY
        self.values[loc] = where
        return loc

    def _key(self, frame: _Frame, key: Any, where: tuple[int, int], *, scalar: bool) -> None:
        if not scalar:
            raise InputError(self.name, "mapping keys must be plain scalars", *where)
        if isinstance(key, bool | float) or key is None:
            raise InputError(self.name, f"mapping key {key!r} is not a string", *where)
        if key in frame.container:
            raise InputError(self.name, f"duplicate key {key!r}", *where)
        self.keys[(*frame.loc, key)] = where
        frame.key = key


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
