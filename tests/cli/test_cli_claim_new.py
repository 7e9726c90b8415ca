"""``seid claim new``: a claim a user can write, valid on the first try, and UUIDv7 ids."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from seid.claims import load_claim
from seid.uuid7 import uuid7
from tests.conftest import CONFORMANCE, SeidRunner, assert_one_line_error

VECTORS = json.loads((CONFORMANCE / "prml-v0.1" / "vectors.json").read_text("utf-8"))


def _shape(value: Any) -> Any:
    """A document's keys and value types, nested: the format, not the content."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return "number" if isinstance(value, int | float) else type(value).__name__


def _unix_ms(value: uuid.UUID) -> int:
    return value.int >> 80


def test_uuid7_layout_time_and_order() -> None:
    before = time.time_ns() // 1_000_000
    ids = [uuid7() for _ in range(5000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)  # later ids sort later, within a millisecond too
    for value in ids[:50]:
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
        assert before <= _unix_ms(value) <= after + 1
        assert str(uuid.UUID(str(value))) == str(value)


def test_uuid7_counts_within_a_millisecond_and_never_goes_back() -> None:
    fixed = 1_900_000_000_000
    ids = [uuid7(fixed) for _ in range(5000)]  # more than the 12-bit counter holds
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {_unix_ms(value) for value in ids} <= {fixed, fixed + 1, fixed + 2}
    assert _unix_ms(uuid7(fixed - 10_000)) >= fixed  # a clock stepped back: still later


def test_claim_new_writes_a_valid_claim_in_the_vectors_format(
    seid: SeidRunner, repo: Path, env: dict[str, str]
) -> None:
    (repo / "sei.yaml").write_text("")  # the project root: claims/ goes beside it
    data = repo / "data" / "loans.csv"
    data.parent.mkdir()
    data.write_text("income,approved\n1,0\n")
    (repo / "sub").mkdir()
    started = datetime.now(UTC).replace(microsecond=0)
    args = ["--metric", "accuracy", "--comparator", ">=", "--threshold", "0.85"]
    result = seid("claim", "new", *args, "--dataset", "../data/loans.csv", cwd=repo / "sub")
    assert result.code == 0, result.err
    path = repo / "claims" / "accuracy.prml.yaml"
    assert f"seid claim lock {path}" in result.out  # outside the working directory: whole
    claim = load_claim(path)
    assert _shape(claim.data) == _shape(VECTORS[0]["input"])  # TV-001: the minimal claim
    assert (claim.metric, claim.comparator, claim.threshold) == ("accuracy", ">=", 0.85)
    assert claim.dataset_hash == hashlib.sha256(data.read_bytes()).hexdigest()
    assert claim.dataset_id == "data/loans.csv"
    assert claim.producer_id == "ada@example.org"  # git user.email
    created = datetime.fromisoformat(claim.created_at.replace("Z", "+00:00"))
    assert started <= created <= datetime.now(UTC)
    made = uuid.UUID(claim.claim_id)
    assert made.version == 7
    assert abs(_unix_ms(made) / 1000 - created.timestamp()) < 2
    assert claim.hash in result.out
    assert seid("claim", "lock", path, cwd=repo).code == 0
    (repo / "metrics.json").write_text('{"accuracy": 0.9}')
    checked = seid("claim", "check", path, "--metrics", "metrics.json", cwd=repo)
    assert checked.out.startswith("PASS"), checked.out + checked.err


def test_claim_new_quotes_number_like_text_and_keeps_options(seid: SeidRunner, repo: Path) -> None:
    (repo / "d.csv").write_text("x\n")
    out = repo / "c.prml.yaml"
    args = ["--metric", "1e5", "--comparator", "<", "--threshold", "3", "--dataset", "d.csv"]
    extra = ["--seed", "7", "--dataset-id", "0x1F", "--producer", "team", "--notes", "a: b #c"]
    result = seid("claim", "new", *args, *extra, "--out", out, cwd=repo)
    assert result.code == 0, result.err
    claim = load_claim(out)
    assert (claim.metric, claim.dataset_id, claim.seed, claim.producer_id) == (
        "1e5",
        "0x1F",
        7,
        "team",
    )
    assert claim.data["notes"] == "a: b #c"


def test_claim_new_refuses_without_writing(seid: SeidRunner, repo: Path) -> None:
    (repo / "d.csv").write_text("x\n")
    (repo / "dir").mkdir()
    base = ["claim", "new", "--metric", "acc", "--comparator", ">="]
    assert_one_line_error(
        seid(*base, "--threshold", "inf", "--dataset", "d.csv", cwd=repo), "threshold", "finite"
    )
    assert_one_line_error(
        seid(*base, "--threshold", "1", "--dataset", "dir", cwd=repo), "dir", ".dvc pointer"
    )
    assert not (repo / "claims").exists() or not list((repo / "claims").iterdir())
    assert seid(*base, "--threshold", "1", "--dataset", "d.csv", cwd=repo).code == 0
    written = (repo / "claims" / "acc.prml.yaml").read_bytes()
    again = seid(*base, "--threshold", "2", "--dataset", "d.csv", cwd=repo)
    assert_one_line_error(again, "claims/acc.prml.yaml already exists", "never overwritten")
    assert (repo / "claims" / "acc.prml.yaml").read_bytes() == written
