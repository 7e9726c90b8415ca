"""PRML v0.1 claims: the 13 conformance vectors, every reject category, verdicts, fuzz."""

from __future__ import annotations

import json
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seid.claims import Claim, evaluate, load_claim, lock, read_sidecar
from seid.errors import InputError, SeidError, VerificationError
from seid.metrics_file import Metric
from seid.yamlsafe import load_yaml_text
from tests.conftest import CONFORMANCE

VECTORS = json.loads((CONFORMANCE / "prml-v0.1" / "vectors.json").read_text("utf-8"))
TV001 = VECTORS[0]["input"]
TV001_HASH = VECTORS[0]["expected_sha256"]


def yaml_value(value: Any) -> str:
    """A value as a person would write it: plain words bare, the rest quoted or in flow."""
    if isinstance(value, str):
        if re.fullmatch(r"[A-Za-z][\w./@:-]*", value):
            try:
                if load_yaml_text(f"k: {value}\n", "probe").data == {"k": value}:
                    return value
            except InputError:
                pass
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return yaml.safe_dump(value).split("\n")[0]  # 1.0e-06: a float to YAML 1.1 and 1.2
    if isinstance(value, list):
        return "[" + ", ".join(yaml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{json.dumps(k, ensure_ascii=False)}: {yaml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    return json.dumps(value)


def to_block_yaml(data: dict[str, Any], indent: str = "") -> str:
    """Block YAML in the input's own key order (not canonical form)."""
    lines = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            lines.append(f"{indent}{yaml_value(key)}:\n{to_block_yaml(value, indent + '  ')}")
        else:
            lines.append(f"{indent}{yaml_value(key)}: {yaml_value(value)}\n")
    return "".join(lines)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def claim_yaml(**changes: Any) -> str:
    data = {**TV001, **changes}
    return to_block_yaml({k: v for k, v in data.items() if v is not None})


# -- conformance vectors ------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector_hashes_from_json_and_block_yaml(vector: dict[str, Any], tmp_path: Path) -> None:
    as_json = write(tmp_path, "claim.json", json.dumps(vector["input"], ensure_ascii=False))
    as_yaml = write(tmp_path, "claim.prml.yaml", to_block_yaml(vector["input"]))
    assert load_claim(as_json).hash == vector["expected_sha256"]
    assert load_claim(as_yaml).hash == vector["expected_sha256"]


def test_json_is_recognised_by_its_first_brace_whatever_the_name(tmp_path: Path) -> None:
    path = write(tmp_path, "claim.prml", "\n  " + json.dumps(TV001))
    assert load_claim(path).hash == TV001_HASH


def test_canonical_bytes_are_sorted_block_yaml_with_float_threshold(tmp_path: Path) -> None:
    claim = load_claim(write(tmp_path, "c.yaml", claim_yaml(threshold=90)))
    text = claim.canonical.decode("utf-8")
    assert text.startswith("claim_id: 01900000-0000-7000-8000-000000000000\ncomparator: '>='\n")
    assert "\nthreshold: 90.0\n" in text
    assert "dataset:\n  hash: e3b0" in text
    assert text.endswith("version: prml/0.1\n") and not text.endswith("\n\n")
    assert claim.threshold == 90.0 and claim.seed == 42


def test_tiny_threshold_renders_in_exponent_form(tmp_path: Path) -> None:
    claim = load_claim(write(tmp_path, "c.json", json.dumps({**TV001, "threshold": 1e-6})))
    assert b"\nthreshold: 1.0e-06\n" in claim.canonical


def test_unquoted_timestamp_stays_the_string_written(tmp_path: Path) -> None:
    text = claim_yaml().replace(
        'created_at: "2026-05-01T12:00:00Z"', "created_at: 2026-05-01T12:00:00Z"
    )
    assert "created_at: 2026-05-01T12:00:00Z\n" in text
    assert load_claim(write(tmp_path, "c.yaml", text)).hash == TV001_HASH


# -- rejections: one per category -----------------------------------------------------


def rejected(path: Path, *fragments: str) -> InputError:
    with pytest.raises(InputError) as info:
        load_claim(path)
    message = str(info.value)
    assert re.match(rf"{re.escape(str(path))}:\d+:\d+: ", message), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return info.value


def test_missing_required_field(tmp_path: Path) -> None:
    rejected(write(tmp_path, "c.yaml", claim_yaml(seed=None)), "missing required field: seed")


def test_missing_nested_required_field(tmp_path: Path) -> None:
    path = write(tmp_path, "c.json", json.dumps({**TV001, "dataset": {"id": "x"}}))
    rejected(path, "missing required field: dataset.hash")


@pytest.mark.parametrize(
    "bad", ["NOTAHASH", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"]
)
def test_bad_dataset_hash(tmp_path: Path, bad: str) -> None:
    path = write(tmp_path, "c.yaml", claim_yaml(dataset={"id": "d", "hash": bad}))
    error = rejected(path, "dataset.hash must be 64 lowercase hex")
    assert error.line == 9


def test_unknown_comparator(tmp_path: Path) -> None:
    error = rejected(
        write(tmp_path, "c.yaml", claim_yaml(comparator="=>")), "comparator must be one of"
    )
    assert (error.line, error.col) == (5, 13)


def test_unknown_version(tmp_path: Path) -> None:
    rejected(
        write(tmp_path, "c.yaml", claim_yaml(version="prml/9.9")), "version must be 'prml/0.1'"
    )


@pytest.mark.parametrize("bad", ["high", True, None, [0.5]])
def test_non_number_threshold(tmp_path: Path, bad: Any) -> None:
    path = write(tmp_path, "c.json", json.dumps({**TV001, "threshold": bad}))
    rejected(path, "threshold must be a finite number")


def test_quoted_numeric_threshold_gets_a_hint(tmp_path: Path) -> None:
    text = claim_yaml().replace("threshold: 0.85", 'threshold: "0.85"')
    rejected(write(tmp_path, "c.yaml", text), "threshold must be a finite number", "unquoted")


def test_exponent_yaml_11_reads_as_text_is_refused(tmp_path: Path) -> None:
    text = claim_yaml().replace("threshold: 0.85", "threshold: 1e-6")
    rejected(write(tmp_path, "c.yaml", text), "threshold: 1e-6 is text to YAML 1.1", "1.0e-06")


@pytest.mark.parametrize("spelling", [".inf", "-.inf", ".nan", ".NaN", "+.Inf"])
def test_non_finite_threshold_in_yaml(tmp_path: Path, spelling: str) -> None:
    text = claim_yaml().replace("threshold: 0.85", f"threshold: {spelling}")
    rejected(write(tmp_path, "c.yaml", text), "threshold")


@pytest.mark.parametrize("spelling", ["Infinity", "-Infinity", "NaN", "1e400"])
def test_non_finite_threshold_in_json(tmp_path: Path, spelling: str) -> None:
    text = json.dumps(TV001, indent=2).replace('"threshold": 0.85', f'"threshold": {spelling}')
    error = rejected(write(tmp_path, "c.json", text), "threshold")
    assert error.line == 7


def test_huge_integer_threshold_is_refused_not_rounded(tmp_path: Path) -> None:
    path = write(tmp_path, "c.json", json.dumps({**TV001, "threshold": 2**53 + 1}))
    rejected(path, "not exactly representable")


def test_duplicate_key_in_yaml(tmp_path: Path) -> None:
    error = rejected(
        write(tmp_path, "c.yaml", claim_yaml() + "metric: f1\n"), "duplicate key 'metric'"
    )
    assert error.line == 13


def test_duplicate_key_in_json(tmp_path: Path) -> None:
    text = json.dumps(TV001, indent=2)[:-2] + ',\n  "metric": "f1"\n}\n'
    error = rejected(write(tmp_path, "c.json", text), "duplicate key 'metric'")
    assert error.line == 16


@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_non_nfc_string(tmp_path: Path, suffix: str) -> None:
    nfd = unicodedata.normalize("NFD", "Öztürk")
    data = {**TV001, "producer": {"id": nfd}}
    text = to_block_yaml(data) if suffix == "yaml" else json.dumps(data, ensure_ascii=False)
    rejected(write(tmp_path, f"c.{suffix}", text), "producer.id", "not in Unicode NFC")


def test_non_nfc_key(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "é")
    path = write(
        tmp_path, "c.json", json.dumps({**TV001, "metric_args": {nfd: 1}}, ensure_ascii=False)
    )
    rejected(path, "(key)", "not in Unicode NFC")


# Each forbidden class, written raw into a YAML scalar (caught in the text before parsing).
RAW_CONTROLS = {
    "nul": "\x00",
    "c0-escape": "\x1b",
    "del": "\x7f",
    "nel-c1": "\x85",
    "c1-high": "\x9f",
    "line-separator": "\u2028",
    "paragraph-separator": "\u2029",
    "bom": "\ufeff",
}


@pytest.mark.parametrize("char", RAW_CONTROLS.values(), ids=list(RAW_CONTROLS))
def test_raw_control_character_in_yaml_scalar(tmp_path: Path, char: str) -> None:
    text = claim_yaml().replace("metric: accuracy", f"metric: accu{char}racy")
    error = rejected(write(tmp_path, "c.yaml", text), f"U+{ord(char):04X}")
    assert (error.line, error.col) == (4, 13)


def test_raw_nel_is_not_folded_into_a_line_break(tmp_path: Path) -> None:
    # PyYAML alone would read "a\x85b" as "a b" (a folded line break) and hash it.
    text = claim_yaml(notes="x").replace("notes: x", "notes: a\x85b")
    rejected(write(tmp_path, "c.yaml", text), "U+0085")


@pytest.mark.parametrize(
    "escape", ["\\u0000", "\\t", "\\n", "\\u0085", "\\u007f", "\\u2028", "\\u2029", "\\ufeff"]
)
def test_escaped_control_character_in_json_value(tmp_path: Path, escape: str) -> None:
    text = json.dumps(TV001).replace('"accuracy"', f'"accu{escape}racy"')
    rejected(write(tmp_path, "c.json", text), "metric", "control / non-portable character")


@pytest.mark.parametrize("escape", ["\\x85", "\\t", "\\L", "\\P", "\\N"])
def test_escaped_control_character_in_yaml_value(tmp_path: Path, escape: str) -> None:
    text = claim_yaml().replace("metric: accuracy", f'metric: "accu{escape}racy"')
    rejected(write(tmp_path, "c.yaml", text), "metric", "control / non-portable character")


@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_control_character_in_a_nested_key(tmp_path: Path, suffix: str) -> None:
    if suffix == "yaml":
        hash_line = f"  hash: {TV001['dataset']['hash']}\n"
        text = claim_yaml().replace(hash_line, hash_line + '  "sub\\Lkey": x\n')
    else:
        text = json.dumps({**TV001, "dataset": {**TV001["dataset"], "sub\u2028key": "x"}})
    rejected(write(tmp_path, f"c.{suffix}", text), "dataset.'sub\\u2028key' (key)", "U+2028")


@pytest.mark.parametrize("seed", [2**64, -1, 1.5, True, "42"])
def test_seed_out_of_range_or_not_an_integer(tmp_path: Path, seed: Any) -> None:
    path = write(tmp_path, "c.json", json.dumps({**TV001, "seed": seed}))
    rejected(path, "seed must be an integer from 0 to 2^64-1")


def test_unknown_top_level_field_with_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "c.yaml", claim_yaml(treshold=0.9))
    error = rejected(path, "treshold: unknown field; did you mean 'threshold'?")
    assert error.col == 1


def test_unknown_field_in_a_closed_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "c.json", json.dumps({**TV001, "producer": {"id": "p", "mail": "x"}}))
    rejected(path, "producer.mail: unknown field")


@pytest.mark.parametrize("claim_id", ["../../etc/passwd", "01900000-0000-4000-8000-000000000000"])
def test_claim_id_must_be_a_uuid7(tmp_path: Path, claim_id: str) -> None:
    rejected(write(tmp_path, "c.json", json.dumps({**TV001, "claim_id": claim_id})), "UUIDv7")


@pytest.mark.parametrize(
    "created_at", ["2026-05-01T12:00:00+02:00", "2026-02-30T12:00:00Z", "yesterday"]
)
def test_created_at_must_be_rfc3339_utc(tmp_path: Path, created_at: str) -> None:
    path = write(tmp_path, "c.json", json.dumps({**TV001, "created_at": created_at}))
    rejected(path, "created_at must be an RFC 3339 UTC time")


@pytest.mark.parametrize("token", ["yes", "0x2A", "1_000", "017", "1:30"])
def test_yaml_11_only_scalars_are_refused(tmp_path: Path, token: str) -> None:
    text = claim_yaml(metric_args={"k": "v"}).replace("k: v", f"k: {token}")
    rejected(write(tmp_path, "c.yaml", text), "metric_args.k", "YAML 1.1 and 1.2")


def test_prior_hash_and_tolerance_are_validated(tmp_path: Path) -> None:
    rejected(write(tmp_path, "a.json", json.dumps({**TV001, "prior_hash": "abc"})), "prior_hash")
    bad_tolerance = {**TV001, "metric_args": {"tolerance": -1}}
    rejected(write(tmp_path, "b.json", json.dumps(bad_tolerance)), "metric_args.tolerance")


@pytest.mark.parametrize("text", ["", "- a\n", "just text\n", "[]"])
def test_document_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    rejected(write(tmp_path, "c.yaml", text), "must be a mapping")


def test_deep_nesting_is_refused_with_its_place(tmp_path: Path) -> None:
    text = claim_yaml(metric_args={"k": "v"}).replace("k: v", "k: " + "[" * 40 + "]" * 40)
    rejected(write(tmp_path, "c.yaml", text), "nested deeper than 32 levels")


def test_yaml_unreadable_noncharacter_is_located(tmp_path: Path) -> None:
    text = claim_yaml(notes="x").replace("notes: x", "notes: a\ufffe")
    error = rejected(write(tmp_path, "c.yaml", text), "U+FFFE")
    assert error.col == 9


def test_anchor_alias_and_tag_are_refused(tmp_path: Path) -> None:
    text = claim_yaml().replace("metric: accuracy", "metric: &m accuracy")
    rejected(write(tmp_path, "c.yaml", text), "anchors")


# -- lock and verdicts --------------------------------------------------------------


@pytest.fixture
def claim(tmp_path: Path) -> Claim:
    return load_claim(write(tmp_path, "acc.prml.yaml", claim_yaml()))


def test_lock_writes_a_sha256sum_style_sidecar(claim: Claim) -> None:
    sidecar = lock(claim)
    assert sidecar == claim.path.parent / "01900000-0000-7000-8000-000000000000.prml.sha256"
    assert sidecar.read_text() == f"{TV001_HASH}  acc.prml.yaml\n"
    assert sidecar.stat().st_mode & 0o777 == 0o644
    assert read_sidecar(claim) == TV001_HASH
    assert lock(claim) == sidecar  # idempotent


def test_lock_in_a_read_only_directory_is_a_user_error(claim: Claim) -> None:
    claim.path.parent.chmod(0o555)
    try:
        if os.access(claim.path.parent, os.W_OK):
            pytest.skip("running as a user that ignores directory permissions")
        with pytest.raises(SeidError, match="cannot write"):
            lock(claim)
    finally:
        claim.path.parent.chmod(0o755)
    assert list(claim.path.parent.iterdir()) == [claim.path]


def test_lock_refuses_to_relock_an_edited_claim(claim: Claim) -> None:
    lock(claim)
    claim.path.write_text(claim_yaml(threshold=0.5))
    with pytest.raises(VerificationError, match="already locks"):
        lock(load_claim(claim.path))
    assert read_sidecar(claim) == TV001_HASH


def test_an_amendment_may_take_over_the_lock(claim: Claim) -> None:
    lock(claim)
    amended = claim.path.parent / "acc-v2.prml.yaml"
    amended.write_text(claim_yaml(threshold=0.9, prior_hash=TV001_HASH))
    loaded = load_claim(amended)
    unlocked = evaluate(loaded, {"accuracy": Metric(0.95)})
    assert (unlocked.verdict, unlocked.locked) == ("PASS", False)
    assert "amends locked claim" in unlocked.reason
    lock(loaded)
    assert read_sidecar(loaded) == loaded.hash


@pytest.mark.parametrize(
    ("comparator", "observed", "verdict"),
    [(">=", 0.85, "PASS"), (">=", 0.849, "FAIL"), (">", 0.85, "FAIL"), ("<", 0.8, "PASS"),
     ("<=", 0.86, "FAIL"), ("==", 0.85 + 1e-10, "PASS"), ("==", 0.8501, "FAIL")],
)  # fmt: skip
def test_verdicts(tmp_path: Path, comparator: str, observed: float, verdict: str) -> None:
    claim = load_claim(write(tmp_path, "c.yaml", claim_yaml(comparator=comparator)))
    result = evaluate(claim, {"accuracy": Metric(observed)})
    assert (result.verdict, result.observed) == (verdict, observed)


def test_equality_tolerance_comes_from_metric_args(tmp_path: Path) -> None:
    text = claim_yaml(comparator="==", metric_args={"tolerance": 0.01})
    claim = load_claim(write(tmp_path, "c.yaml", text))
    assert claim.tolerance == 0.01
    assert evaluate(claim, {"accuracy": Metric(0.855)}).verdict == "PASS"
    assert evaluate(claim, {"accuracy": Metric(0.87)}).verdict == "FAIL"


def test_verdict_record_for_evidence_bundles(claim: Claim) -> None:
    record = evaluate(claim, {"accuracy": Metric(0.9)}).record()
    assert record["manifest_hash"] == TV001_HASH
    assert (record["verdict"], record["observed"], record["locked"]) == ("PASS", 0.9, False)
    assert record["path"] == str(claim.path)


def test_absent_metric_is_unverified(claim: Claim) -> None:
    result = evaluate(claim, {"f1": Metric(0.99)})
    assert result.verdict == "UNVERIFIED" and "'accuracy'" in result.reason


def test_tampered_claim_gets_no_pass_or_fail(claim: Claim) -> None:
    lock(claim)
    assert evaluate(claim, {"accuracy": Metric(0.9)}).locked
    claim.path.write_text(claim_yaml(threshold=0.5))
    result = evaluate(load_claim(claim.path), {"accuracy": Metric(0.9)})
    assert result.verdict == "TAMPERED" and result.observed is None
    assert TV001_HASH in result.reason


def test_malformed_sidecar_is_an_input_error(claim: Claim) -> None:
    claim.sidecar_path.write_text("not a hash\n")
    with pytest.raises(InputError, match="not a PRML sidecar"):
        evaluate(claim, {})


# -- fuzz ---------------------------------------------------------------------------

VALID_TEXTS = [claim_yaml(), json.dumps(TV001, indent=2), to_block_yaml(VECTORS[9]["input"])]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


SYNTAX = st.sampled_from(
    [
        ":",
        ",",
        " ",
        "\n",
        "  ",
        "'",
        '"',
        "{",
        "}",
        "[",
        "- ",
        "#",
        "&a ",
        "*a",
        "!!str ",
        "? ",
        ">",
        "\\",
        ".inf",
        "1e9",
        "yes",
        "~",
        "é",
        "\t",
    ]
)


@st.composite
def text_edits(draw: st.DrawFn) -> tuple[str, bytes]:
    text = draw(st.sampled_from(VALID_TEXTS))
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 8)))
        text = text[:start] + draw(st.text(max_size=6) | SYNTAX) + text[end:]
    return draw(st.sampled_from(["yaml", "json"])), text.encode("utf-8", "surrogatepass")


@st.composite
def structures(draw: st.DrawFn) -> tuple[str, bytes]:
    data: Any = dict(TV001)
    key = draw(st.sampled_from([*TV001, "metric_args", "model", "dataset"]))
    data[key] = draw(json_values)
    if draw(st.booleans()):
        data = draw(json_values)
    if draw(st.booleans()):
        return "json", json.dumps(data, ensure_ascii=draw(st.booleans())).encode(
            "utf-8", "surrogatepass"
        )
    import yaml

    return "yaml", yaml.safe_dump(data, allow_unicode=True).encode("utf-8", "surrogatepass")


raw_bytes = st.tuples(st.sampled_from(["yaml", "json"]), st.binary(max_size=200))


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.one_of(text_edits(), structures(), raw_bytes))
def test_fuzz_every_input_loads_or_is_a_located_input_error(
    fuzz_dir: Path, case: tuple[str, bytes]
) -> None:
    suffix, content = case
    path = fuzz_dir / f"claim.{suffix}"
    path.write_bytes(content)
    try:
        claim = load_claim(path)
    except InputError as exc:
        assert re.match(rf"{re.escape(str(path))}:\d+(:\d+)?: \S", str(exc)), str(exc)
    else:
        assert len(claim.hash) == 64 and claim.canonical.endswith(b"\n")


# -- property: one claim, one hash, whichever door it comes through ---------------------

portable_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("C", "Zl", "Zp")), max_size=20
).map(lambda text: unicodedata.normalize("NFC", text))
portable_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | portable_text,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(portable_text.filter(lambda k: k != "tolerance"), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def valid_claims(draw: st.DrawFn) -> dict[str, Any]:
    data = dict(TV001)
    data["metric"] = draw(portable_text.filter(lambda text: 1 <= len(text) <= 256))
    data["threshold"] = draw(
        st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53)
    )
    data["comparator"] = draw(st.sampled_from([">=", ">", "==", "<=", "<"]))
    data["seed"] = draw(st.integers(0, 2**64 - 1))
    data["producer"] = {"id": draw(portable_text.filter(bool))}
    if draw(st.booleans()):
        data["notes"] = draw(portable_text)
    if draw(st.booleans()):
        data["metric_args"] = draw(
            st.dictionaries(portable_text.filter(lambda k: k != "tolerance"), portable_values)
        )
    keys = draw(st.permutations(list(data)))
    return {key: data[key] for key in keys}


@settings(max_examples=100, deadline=None)
@given(data=valid_claims())
def test_any_valid_claim_hashes_the_same_from_json_and_block_yaml(
    fuzz_dir: Path, data: dict[str, Any]
) -> None:
    from_json = load_claim(write(fuzz_dir, "p.json", json.dumps(data, ensure_ascii=False)))
    from_yaml = load_claim(write(fuzz_dir, "p.yaml", to_block_yaml(data)))
    assert from_json.hash == from_yaml.hash
    expected = {**data, "threshold": float(data["threshold"])}
    assert yaml.safe_load(from_json.canonical) == expected  # the canonical form reads back
