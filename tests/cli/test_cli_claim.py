"""``seid claim`` through the real CLI: hash, lock, check, tampering, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CONFORMANCE, SeidRunner, assert_one_line_error

VECTORS = json.loads((CONFORMANCE / "prml-v0.1" / "vectors.json").read_text("utf-8"))
CLAIM = """\
version: prml/0.1
claim_id: 01900000-0000-7000-8000-000000000000
created_at: 2026-05-01T12:00:00Z
metric: accuracy
comparator: ">="
threshold: 0.85
dataset:
  id: imagenet-val-2012
  hash: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
seed: 42
producer:
  id: studio-11.co
"""
SIDECAR = "01900000-0000-7000-8000-000000000000.prml.sha256"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / "acc.prml.yaml").write_text(CLAIM)
    (tmp_path / "metrics.json").write_text('{"accuracy": 0.86, "f1": 0.5}')
    return tmp_path


def test_hash_prints_sha256sum_lines_for_every_file(seid: SeidRunner, tmp_path: Path) -> None:
    files = []
    for vector in VECTORS:
        path = tmp_path / f"{vector['id']}.json"
        path.write_text(json.dumps(vector["input"], ensure_ascii=False), "utf-8")
        files.append(path.name)
    result = seid("claim", "hash", *files, cwd=tmp_path)
    assert result.code == 0, result.err
    expected = [f"{v['expected_sha256']}  {name}" for v, name in zip(VECTORS, files, strict=True)]
    assert result.out.splitlines() == expected


def test_lock_then_check_passes(seid: SeidRunner, project: Path) -> None:
    locked = seid("claim", "lock", "claims/acc.prml.yaml", cwd=project)
    assert locked.code == 0, locked.err
    sidecar = project / "claims" / SIDECAR
    assert sidecar.read_text() == f"{VECTORS[0]['expected_sha256']}  acc.prml.yaml\n"
    result = seid(
        "claim", "check", "claims/acc.prml.yaml", "--metrics", "metrics.json", cwd=project
    )
    assert (result.code, result.out) == (0, "PASS: accuracy = 0.86, >= 0.85\n")


def test_check_fails_below_the_threshold(seid: SeidRunner, project: Path) -> None:
    (project / "metrics.json").write_text('{"accuracy": {"value": 0.84}}')
    result = seid(
        "claim", "check", "claims/acc.prml.yaml", "--metrics", "metrics.json", cwd=project
    )
    assert result.code == 1
    assert result.out.startswith("FAIL: accuracy = 0.84, not >= 0.85 (not locked")


def test_check_without_the_metric_is_unverified(seid: SeidRunner, project: Path) -> None:
    (project / "metrics.json").write_text('{"f1": 0.9}')
    result = seid(
        "claim", "check", "claims/acc.prml.yaml", "--metrics", "metrics.json", cwd=project
    )
    assert result.code == 1
    assert result.out.startswith("UNVERIFIED: metric 'accuracy' is not in the metrics")


def test_edit_after_lock_is_tampered_and_cannot_be_relocked(
    seid: SeidRunner, project: Path
) -> None:
    claim = project / "claims" / "acc.prml.yaml"
    assert seid("claim", "lock", claim, cwd=project).code == 0
    claim.write_text(CLAIM.replace("threshold: 0.85", "threshold: 0.80"))
    result = seid("claim", "check", claim, "--metrics", "metrics.json", cwd=project)
    assert result.code == 1
    assert result.out.startswith(f"TAMPERED: {SIDECAR} locks {VECTORS[0]['expected_sha256']}")
    relock = seid("claim", "lock", claim, cwd=project)
    assert_one_line_error(relock, "already locks", code=1)
    assert VECTORS[0]["expected_sha256"] in (project / "claims" / SIDECAR).read_text()


def test_rejected_claim_exits_2_naming_file_place_and_field(
    seid: SeidRunner, project: Path
) -> None:
    claim = project / "claims" / "acc.prml.yaml"
    claim.write_text(CLAIM.replace("seed: 42", "seed: -1"))
    for args in (("hash", claim), ("lock", claim), ("check", claim, "--metrics", "metrics.json")):
        result = seid("claim", *args, cwd=project)
        assert_one_line_error(result, f"{claim}:10:7: seed must be an integer")
    assert not (project / "claims" / SIDECAR).exists()


def test_raw_nel_in_a_yaml_scalar_exits_2(seid: SeidRunner, project: Path) -> None:
    claim = project / "claims" / "acc.prml.yaml"
    claim.write_bytes(CLAIM.replace("accuracy", "accu\x85racy").encode("utf-8"))
    assert_one_line_error(seid("claim", "hash", claim), f"{claim}:4:13:", "U+0085")


def test_bad_metrics_file_exits_2(seid: SeidRunner, project: Path) -> None:
    (project / "metrics.json").write_text('{"accuracy": NaN}')
    result = seid(
        "claim", "check", "claims/acc.prml.yaml", "--metrics", "metrics.json", cwd=project
    )
    assert_one_line_error(result, "metrics.json:1:14: accuracy: NaN")


def test_missing_file_exits_2(seid: SeidRunner, tmp_path: Path) -> None:
    assert_one_line_error(seid("claim", "hash", "absent.yaml", cwd=tmp_path), "absent.yaml")
