"""The report schemas checked by ``jsonschema`` (draft 2020-12), as the tools that read
seid's reports would check them."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from seid.replay.schema import load_schema


def problems(instance: Any, schema: dict[str, Any] | None = None) -> list[str]:
    """Every place ``instance`` breaks the schema, as ``/json/pointer: what``."""
    validator = Draft202012Validator(schema if schema is not None else load_schema())
    return [
        "/" + "/".join(str(part) for part in error.absolute_path) + ": " + error.message
        for error in validator.iter_errors(instance)
    ]
