"""Finding and loading the manifest, with every error placed at ``path:line:col``.

Strict YAML first (seid.yamlsafe: duplicate keys, anchors, tags, size, UTF-8), then the
pydantic model, then the cross-field checks; only the error earliest in the file is
reported, as one line, because that is the one a person fixes first.
"""

from __future__ import annotations

import copy
import logging
import re
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from seid.config.model import DEFER_CHECKS, SEI_API_VERSION, Manifest
from seid.config.semantics import did_you_mean, dotted, problems
from seid.errors import InputError
from seid.fsutil import repo_output, shown_path
from seid.locate import MANIFEST_NAMES, manifest_path
from seid.yamlsafe import (
    Located,
    check_controls,
    check_readable,
    load_yaml_text,
    read_text,
    walk_strings,
)

_log = logging.getLogger(__name__)
_WARNED: set[tuple[str, str]] = set()
_KEY_MARK = "[key]"
_QUOTED = re.compile(r"'([^']*)'")
# Outside YAML's printable set (YAML 1.1, 5.1); the C0/C1 controls are refused before.


def load_manifest(root: Path) -> Manifest:
    """Read and validate the manifest at the root of a project; its warnings are logged
    (on stderr from the CLI, in the daemon's log), once per manifest version."""
    path = manifest_path(root)
    name = shown_path(path)
    text = read_text(path, display=name)
    manifest = load_manifest_text(text, name, root).located_at(path, text.encode("utf-8"))
    for warning in manifest.warnings:
        if (manifest.manifest_digest, warning) not in _WARNED:
            _WARNED.add((manifest.manifest_digest, warning))
            _log.warning(warning)
    return manifest


def load_manifest_text(text: str, name: str, root: Path | None = None) -> Manifest:
    """Validate manifest text, e.g. a historic version replayed from git; with the
    ``root`` of a work tree, the paths seid would write there are checked too."""
    check_controls(text, name)
    check_readable(text, name)
    located = load_yaml_text(text, name)
    _check_escaped_controls(located, text)
    if not isinstance(located.data, dict):
        line, col = located.where(())
        message = "a manifest is a mapping of sections (version, system, ...)"
        raise InputError(name, message, line or 1, col or 1)
    data: Any = located.data
    unused: list[str] = []
    if _sei_vocabulary(data, name):
        data, unused = _without_unused(located)
    try:
        manifest = Manifest.model_validate(data, context={DEFER_CHECKS: True})
    except ValidationError as exc:
        errors = [(err["type"] == "missing", _from_pydantic(located, err)) for err in exc.errors()]
        raise _first(errors) from None
    found = [
        (False, located.error(p.loc, _say(p.loc, p.message), key=p.key)) for p in problems(manifest)
    ]
    if found:
        raise _first(found)
    if root is not None:
        _check_outputs(manifest, root, located)
    return manifest.located_at(Path(name), text.encode("utf-8")).warned(unused)


def _check_outputs(manifest: Manifest, root: Path, located: Located) -> None:
    """The files the manifest has seid write stay inside the work tree, outside
    ``.git/`` and ``.sei/``, and off the manifest itself (symlinks followed)."""
    loc: tuple[str | int, ...] = ("oscal", "assessment_plan")
    rel = manifest.oscal.assessment_plan
    try:
        target = repo_output(root, rel)
    except ValueError as exc:
        raise located.error(loc, _say(loc, str(exc))) from None
    if target.parent == root.resolve() and target.name in MANIFEST_NAMES:
        raise located.error(loc, _say(loc, f"{rel!r} would replace the manifest"))


def _sei_vocabulary(data: dict[str, Any], name: str) -> bool:
    """A manifest written for the sei engine: its ``apiVersion``, or a ``venth.yaml``.

    Those carry fields of the engine's that seid has no use for; a ``version: seid/1``
    manifest keeps refusing every unknown key, so a typo never passes unnoticed there.
    """
    return data.get("apiVersion") == SEI_API_VERSION or Path(name).name == "venth.yaml"


def _without_unused(located: Located) -> tuple[Any, list[str]]:
    """The document without the keys seid does not know, and a warning for each."""
    try:
        Manifest.model_validate(located.data, context={DEFER_CHECKS: True})
        return located.data, []
    except ValidationError as exc:
        extra = [tuple(e["loc"]) for e in exc.errors() if e["type"] == "extra_forbidden"]
    data = copy.deepcopy(located.data)
    warnings: list[tuple[int, int, str]] = []
    for raw in extra:
        loc = _in_document(located.data, raw)
        if loc != raw:
            continue  # not a key of the document as written (a union's branch name)
        parent = data
        for part in loc[:-1]:
            parent = parent[part]
        del parent[loc[-1]]
        where = located.error(loc, "", key=True)
        line, col = where.line or 0, where.col or 0
        message = f"{dotted(loc)}: not a field seid uses; ignored"
        warnings.append((line, col, f"{where.path}:{line}:{col}: warning: {message}"))
    return data, [text for *_, text in sorted(warnings)]


def _check_escaped_controls(located: Located, text: str) -> None:
    """Refuse control characters written as escapes (``"\\0"``), as the raw text check does.

    A NUL in an argv or a path would otherwise surface much later, far from its cause.
    Escapes need a backslash, so text without one (raw controls are refused before) has
    nothing to find.
    """
    if "\\" not in text:
        return
    for loc, value in walk_strings(located.data):
        try:
            check_controls(value, located.path)
        except InputError as exc:
            raise located.error(loc, _say(loc, exc.message)) from None


def _first(errors: list[tuple[bool, InputError]]) -> InputError:
    """The earliest error in the file; a missing key only if nothing else is wrong.

    A misspelt key shows up twice, as unknown and as missing; the unknown one has the hint.
    """
    big = 1 << 30
    return min(errors, key=lambda e: (e[0], e[1].line or big, e[1].col or big))[1]


def _say(loc: tuple[str | int, ...], message: str) -> str:
    where = dotted(loc)
    return f"{where}: {message}" if where else message


def _from_pydantic(located: Located, err: ErrorDetails) -> InputError:
    raw = tuple(err["loc"])
    is_key = _KEY_MARK in raw or err["type"] in ("extra_forbidden", "invalid_key")
    loc = _in_document(located.data, raw)
    if err["type"] == "missing":
        loc = loc[: len(raw) - 1]
    return located.error(loc, _say(loc, _message(err, raw)), key=is_key)


def _in_document(data: Any, raw: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """The longest prefix of a pydantic loc that names something in the document."""
    loc: list[str | int] = []
    for part in raw:
        inside_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (inside_list or (isinstance(data, dict) and part in data)):
            break
        data = data[part]
        loc.append(part)
    return tuple(loc)


def _message(err: ErrorDetails, raw: tuple[str | int, ...]) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        allowed = _keys_at(raw[:-1])
        hint = did_you_mean(str(raw[-1]), allowed) or f" (allowed: {', '.join(allowed)})"
        return f"unknown key {raw[-1]!r}{hint}"
    if kind == "missing":
        return f"missing required key {raw[-1]!r}"
    if kind == "invalid_key":
        return f"keys must be strings, got {_describe(value)}"
    if kind in ("enum", "literal_error"):
        choices = _QUOTED.findall(str((err.get("ctx") or {}).get("expected", "")))
        listed = ", ".join(choices)
        if not isinstance(value, str):
            return f"expected one of {listed}, got {_describe(value)}"
        return (
            f"unknown value {_show(value)}; expected one of {listed}{did_you_mean(value, choices)}"
        )
    expected = _EXPECTED.get(kind)
    if expected is not None:
        return f"expected {expected}, got {_describe(value)}"
    if kind == "too_short":
        return "must not be empty"
    return err["msg"]


_EXPECTED = {
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {value!r}".lower()
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {_show(value)}"
    return "a list" if isinstance(value, list) else "a mapping"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _keys_at(loc: tuple[str | int, ...]) -> list[str]:
    """The keys the model allows at ``loc`` (for the "did you mean" hint)."""
    kind: Any = Manifest
    for part in loc:
        kind = _unwrap(kind)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            kind = next(
                (f.annotation for n, f in kind.model_fields.items() if part in (n, f.alias)), None
            )
        elif get_origin(kind) in (list, dict):
            kind = get_args(kind)[-1]
        else:
            return []
    kind = _unwrap(kind)
    if not (isinstance(kind, type) and issubclass(kind, BaseModel)):
        return []
    return [field.alias or name for name, field in kind.model_fields.items()]


def _unwrap(kind: Any) -> Any:
    """``X | None`` and ``Annotated[X, ...]`` -> ``X``."""
    if hasattr(kind, "__metadata__"):
        return _unwrap(kind.__origin__)
    if get_origin(kind) in (Union, UnionType):
        args = [arg for arg in get_args(kind) if arg is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else kind
    return kind
