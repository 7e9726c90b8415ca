"""The JSON Schemas (draft 2020-12) of the reports seid writes, shipped with the package
for the tools that read them: ``reconstruct.json`` and ``conformance/<standard>.json``.
The tests check every document against them with ``jsonschema``."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_FILE = "reconstruct-v1.json"
CONFORMANCE_FILE = "conformance-v1.json"  # conformance/<standard>.json


@cache
def load_schema(name: str = SCHEMA_FILE) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
