"""seid.oscal.render: PyYAML's block style written as text, byte for byte."""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from seid.oscal.render import reference_yaml, render

TRICKY = ["yes", "no", "on", "null", "~", "", "1", "1.0", "0x1f", "1e3", ".inf", "-", "--- x",
          "...", "2026-01-01", "a: b", "a:", "a:b", "# not a comment", "a #b", "a#b", "'quoted'",
          '"q"', "it's", "[x]", "{y}", "x, y", "?", "? x", ": x", "- x", "-x", "=", "<<",
          "line one\nline two\n", "two\n\n", "\nlead", "trailing \n", "a \nb", "a\n b",
          "x\n", "\n", " leading", "trailing ", "ünïcode ✓", "😀 astral", "@at", "`tick",
          "*star", "&amp", "!bang", "%pct", "|pipe", ">gt", "tab\there", "nel\x85x",
          "ls\u2028x", "bom\ufeff", "bell\x07", "del\x7f", "cr\rx", "nul\x00", "back\\slash",
          "2001:db8::1", "12:30", "1_000", "0o17", "+1", "-.5", "Yes", "NULL", "True"]  # fmt: skip


def test_every_kind_of_scalar_as_yaml_dump_writes_it() -> None:
    document = {
        "assessment-plan": {
            "uuid": "0f1e2d3c-4b5a-4697-8877-665544332211",
            "metadata": {"title": "Plan", "props": [{"name": n, "value": n} for n in TRICKY]},
            "numbers": [0, 1, -7, 10**18, 0.5, 1.0, 1e17, 0.0, -0.0, True, False, None],
            "nested": [[], {}, [{"k": ["v", {"deep": "x"}]}], [["a", "b"], "c"]],
            "last": "kept breaks\n\n",
        }
    }
    assert render(document).decode() == reference_yaml(document)
    assert yaml.safe_load(render(document)) == document
    assert render(document).endswith(b"\n...\n")  # PyYAML closes an open-ended scalar


_key = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True) | st.sampled_from(
    [k for k in TRICKY if k and "\n" not in k and "\x85" not in k and "\u2028" not in k]
)
_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20) | st.sampled_from(TRICKY)
_scalar = _text | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
_nodes = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_key, inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_key, _nodes, min_size=1, max_size=5))
def test_any_document_is_written_as_yaml_dump_writes_it(document: dict[str, Any]) -> None:
    assert render(document).decode() == reference_yaml(document)


@given(st.dictionaries(_key, _nodes, min_size=1, max_size=5))
def test_json_form_is_the_same_data(document: dict[str, Any]) -> None:
    assert json.loads(render(document, json_output=True)) == document


def test_a_key_that_is_not_a_simple_key_is_refused() -> None:
    import pytest

    for key in ("two\nlines", "x" * 128, ""):
        with pytest.raises(ValueError, match="not a simple mapping key"):
            render({key: 1})
