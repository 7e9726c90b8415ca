"""The reconstruct report's JSON Schema, and a strict checker for the part of JSON Schema
(draft 2020-12) it uses: ``type``, ``properties``, ``required``, ``additionalProperties``,
``items``, ``enum``, ``const``, ``pattern``, ``minimum``, ``oneOf`` and local ``$ref``.

The ``jsonschema`` package is not a seid dependency; this checker refuses any keyword it
does not implement, so the schema can never claim more than is checked.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_FILE = "reconstruct-v1.json"
CONFORMANCE_FILE = "conformance-v1.json"  # conformance/<standard>.json
_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description"})
_KEYWORDS = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "pattern",
        "minimum",
        "oneOf",
        "$ref",
    }
)
_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


class SchemaError(ValueError):
    """The schema itself uses something this checker does not implement."""


@cache
def load_schema(name: str = SCHEMA_FILE) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def problems(instance: Any, schema: dict[str, Any] | None = None) -> list[str]:
    """Every place ``instance`` breaks the schema, as ``/json/pointer: what``."""
    root = schema if schema is not None else load_schema()
    out: list[str] = []
    _check(instance, root, root, "", out)
    return out


def _type_ok(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name not in _TYPES:
        raise SchemaError(f"unknown type {name!r}")
    kind = _TYPES[name]
    return isinstance(value, kind) and (kind is not int or not isinstance(value, bool))


def _check(
    value: Any, schema: dict[str, Any], root: dict[str, Any], at: str, out: list[str]
) -> None:
    unknown = set(schema) - _KEYWORDS - _ANNOTATIONS
    if unknown:
        raise SchemaError(f"unsupported keyword(s) {sorted(unknown)} at {at or '/'}")
    if "$ref" in schema:
        _check(value, _resolve(root, schema["$ref"]), root, at, out)
    where = at or "/"
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, name) for name in names):
            out.append(f"{where}: expected {' or '.join(names)}, got {type(value).__name__}")
            return
    if "const" in schema and value != schema["const"]:
        out.append(f"{where}: must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        out.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if "minimum" in schema and _type_ok(value, "number") and value < schema["minimum"]:
        out.append(f"{where}: {value} is below {schema['minimum']}")
    if "oneOf" in schema:
        matches = sum(1 for option in schema["oneOf"] if _passes(value, option, root))
        if matches != 1:
            out.append(f"{where}: matches {matches} of the oneOf alternatives, not exactly 1")
    if isinstance(value, dict):
        _object(value, schema, root, at, out)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _check(item, schema["items"], root, f"{at}/{i}", out)


def _object(
    value: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], at: str, out: list[str]
) -> None:
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            out.append(f"{at or '/'}: missing required {name!r}")
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        here = f"{at}/{_escape(name)}"
        if name in properties:
            _check(item, properties[name], root, here, out)
        elif extra is False:
            out.append(f"{here}: not allowed here")
        elif isinstance(extra, dict):
            _check(item, extra, root, here, out)


def _passes(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> bool:
    found: list[str] = []
    _check(value, schema, root, "", found)
    return not found


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise SchemaError(f"only local references are supported, not {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    if not isinstance(node, dict):
        raise SchemaError(f"{ref} does not name a schema")
    return node


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")
