"""Strict located JSON: what I-JSON refuses is refused here, with line:col."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seid.errors import InputError
from seid.jsonsafe import MAX_DEPTH, load_json_text

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8")),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(value=json_values, indent=st.sampled_from([None, 2]))
def test_agrees_with_the_json_module_on_valid_documents(value: object, indent: int | None) -> None:
    text = json.dumps(value, indent=indent)
    assert load_json_text(text, "x.json").data == json.loads(text)


def test_positions_of_values_and_keys() -> None:
    located = load_json_text('{\n  "a": [1, {"b": true}],\n  "c": "d"\n}', "x.json")
    assert located.values[("a",)] == (2, 8)
    assert located.values[("a", 1, "b")] == (2, 18)
    assert located.keys[("c",)] == (3, 3)
    assert located.where(("c",), key=True) == (3, 3)


@pytest.mark.parametrize(
    ("text", "fragment", "where"),
    [
        ('{"a": 1, "a": 2}', "duplicate key 'a'", "1:10"),
        ('{"a": NaN}', "a: NaN and Infinity", "1:7"),
        ('{"a": [-Infinity]}', "a.0: NaN and Infinity", "1:8"),
        ('{"a": 1e400}', "a: 1e400 is not a finite", "1:7"),
        ('"\\ud800"', "lone surrogate", "1:1"),
        ('{"a": 1,}', "expected a quoted name", "1:9"),
        ("[1 2]", "expected ',' or ']'", "1:4"),
        ("{} {}", "extra data", "1:4"),
        ("", "expected a JSON value", "1:1"),
        ('"a\tb"', "raw control character", "1:1"),
        ('"\\x"', "invalid JSON string", "1:2"),
        ("\n\n  01", "extra data", "3:4"),
        ("[" * (MAX_DEPTH + 1), f"nested deeper than {MAX_DEPTH}", f"1:{MAX_DEPTH + 1}"),
    ],
)
def test_refusals_are_located(text: str, fragment: str, where: str) -> None:
    with pytest.raises(InputError) as info:
        load_json_text(text, "x.json")
    assert str(info.value).startswith(f"x.json:{where}: "), str(info.value)
    assert fragment in str(info.value)


def test_big_integers_stay_exact() -> None:
    assert load_json_text(str(2**64 - 1), "x.json").data == 2**64 - 1
