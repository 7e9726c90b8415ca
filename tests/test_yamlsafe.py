"""The strict loader every manifest goes through: refusals carry path:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from seid.errors import InputError
from seid.yamlsafe import MAX_BYTES, check_controls, load_yaml, load_yaml_text, walk_strings


def test_values_keep_their_positions() -> None:
    doc = load_yaml_text("a: 1\nb:\n  - x\n  - {c: 2020-01-01, d: 2.5}\n", "m.yaml")
    assert doc.data == {"a": 1, "b": ["x", {"c": "2020-01-01", "d": 2.5}]}
    assert doc.where(("b", 1, "c")) == (4, 9)
    assert doc.where(("b",), key=True) == (2, 1)
    # an unknown deeper path falls back to its nearest located parent
    assert doc.where(("b", 1, "zz", 3)) == (4, 5)


def test_timestamps_stay_strings() -> None:
    assert load_yaml_text("t: 2026-05-01T12:00:00Z\n", "m").data == {"t": "2026-05-01T12:00:00Z"}


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ("a: &x 1\nb: *x\n", ":1:4:", "anchors are not allowed"),
        ("a: [1]\nb: *x\n", ":2:4:", "aliases are not allowed"),
        ("a: !!str 1\n", ":1:4:", "tags are not allowed"),
        ("a: !custom 1\n", ":1:4:", "tags are not allowed"),
        ("a: 1\nb: 2\na: 3\n", ":3:1:", "duplicate key 'a'"),
        ("--- 1\n--- 2\n", ":2:1:", "more than one YAML document"),
        ("a: [1\n", ":2:1:", "invalid YAML"),
        ("? [1]\n: 2\n", ":1:3:", "mapping keys must be plain scalars"),
        ("1.5: x\n", ":1:1:", "is not a string"),
        ("a: 1\nb: x\ufffey\n", ":2:5:", "U+FFFE is not allowed"),
        # located in characters, also after non-ASCII text (libyaml counts UTF-8 bytes)
        ("a: é\nb: x\x07y\n", ":2:5:", "U+0007 is not allowed"),
        ("é: ü\nbad: \x01\n", ":2:6:", "U+0001 is not allowed"),
        ("a: " + "[" * 100 + "]" * 100 + "\n", ":1:67:", "nested deeper than 64"),
    ],
)
def test_refusals_are_located(text: str, where: str, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        load_yaml_text(text, "m.yaml")
    message = str(info.value)
    assert message.startswith("m.yaml" + where), message
    assert fragment in message


def test_large_file_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a: " + b"x" * MAX_BYTES + b"\n")
    with pytest.raises(InputError, match="larger than"):
        load_yaml(big)


def test_non_utf8_located(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(InputError) as info:
        load_yaml(bad, display="bad.yaml")
    assert str(info.value) == "bad.yaml:2:7: not valid UTF-8"


def test_non_utf8_column_counts_characters_as_an_editor_does(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: 1\nb: " + "é✓ ".encode() + b"\xff\n")
    with pytest.raises(InputError) as info:
        load_yaml(bad, display="bad.yaml")
    assert str(info.value) == "bad.yaml:2:7: not valid UTF-8"  # bytes would say 2:10


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_yaml(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="is a directory"):
        load_yaml(tmp_path)


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\ufeff"])
def test_control_characters_refused_in_raw_text(char: str) -> None:
    with pytest.raises(InputError) as info:
        check_controls(f"a: 1\nb: x{char}y\n", "c.yaml")
    assert str(info.value).startswith("c.yaml:2:5: forbidden control character")


def test_tab_and_crlf_are_allowed() -> None:
    check_controls("a: 1\r\nb: 'x\ty'\r\n", "c.yaml")


def test_walk_strings_yields_keys_and_values() -> None:
    found = dict(walk_strings({"k": ["v", {"n": 1}]}))
    assert found == {("k",): "k", ("k", 0): "v", ("k", 1, "n"): "n"}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: " + "9" * 5000 + "\n", "x.yaml:1:4:"),  # past Python's 4,300-digit limit
        ("a: -" + "1" * 70 + "\n", "x.yaml:1:4:"),
        ("a:\n  " + "7" * 100 + ": b\n", "x.yaml:2:3:"),  # as a key
    ],
)
def test_an_integer_too_long_to_be_a_setting_is_placed(text: str, where: str) -> None:
    with pytest.raises(InputError) as err:
        load_yaml_text(text, "x.yaml")
    assert str(err.value).startswith(where) and "integer too long" in str(err.value)
    assert len(str(err.value)) < 120  # the value itself is never echoed


def test_sixty_four_digits_still_read() -> None:
    assert load_yaml_text("a: " + "1" * 64 + "\n", "x.yaml").data == {"a": int("1" * 64)}
