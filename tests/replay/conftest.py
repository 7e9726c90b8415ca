"""Replay fixtures: real git histories with chosen dates, and real signed bundles."""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import Signer  # type: ignore[attr-defined]

from seid import evidence, keys
from seid.ledger import records
from seid.ledger.log import Ledger
from seid.ledger.paths import log_dir
from seid.replay import report
from seid.replay.cycle import build
from seid.replay.findings import find
from seid.replay.history import walk
from seid.replay.join import join

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Ada Tester",
    "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Ada Tester",
    "GIT_COMMITTER_EMAIL": "ada@example.org",
}

MEASURE = """\
            - id: dp-gap
              metric: demographic_parity_diff
              constraint: "{constraint}"
              enforcement: {enforcement}
"""


def manifest(
    constraint: str = "< 0.03",
    enforcement: str = "gate",
    review: str | None = "P6M",
    measure: bool = True,
    extra_risk: bool = False,
) -> str:
    """A small valid sei.yaml: one fairness risk with one measure (``dp-gap``)."""
    text = f"""\
version: seid/1
system: {{name: demo}}
pipeline: {{tool: command, command: [python, train.py]}}
inputs:
  treatment: [train.py, params.yaml]
  data: [data/**]
claims: [claims/*.prml.yaml]
risk:
  appetite: {{individual: MEDIUM}}
  overall_residual_criterion: HIGH
{f"  review_interval: {review}" if review else ""}
  risks:
    - id: unfair
      impact: {{individual: HIGH}}
      likelihood: LIKELY
      treat:
        - method: REDUCE
          residual_likelihood: UNLIKELY
          measures:
"""
    if measure:
        text += MEASURE.format(constraint=constraint, enforcement=enforcement)
    else:
        text += "            []\n"
    if extra_risk:
        text += """\
    - id: drift
      impact: {individual: LOW}
      likelihood: POSSIBLE
"""
    return text


def claim(threshold: float = 0.03, prior_hash: str | None = None, seed: int = 1) -> str:
    text = f"""\
version: prml/0.1
claim_id: 0193a1e2-5b7c-7d00-8000-00000000a001
created_at: "2026-05-01T12:00:00Z"
metric: demographic_parity_diff
comparator: "<"
threshold: {threshold}
dataset:
  id: demo
  hash: {"a" * 64}
seed: {seed}
producer:
  id: team
"""
    if prior_hash:
        text += f"prior_hash: {prior_hash}\n"
    return text


class Repo:
    """A git repository the test writes history into, one dated commit at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.day = 0
        self.signer: Signer | None = None
        self.run("init", "-q", "-b", "main")
        self.run("config", "commit.gpgsign", "false")

    def run(self, *args: str, date: str | None = None) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(GIT_ENV)
        if date:
            env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
        proc = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, f"git {args}: {proc.stderr}"
        return proc.stdout.strip()

    def commit(
        self,
        files: Mapping[str, str | None],
        message: str = "change",
        date: str | None = None,
    ) -> str:
        """Write (or, for None, delete) files and commit them; returns the commit id."""
        for rel, text in files.items():
            path = self.path / rel
            if text is None:
                self.run("rm", "-q", "--", rel)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            self.run("add", "--", rel)
        self.day += 1
        when = date or f"2026-01-{self.day:02d}T12:00:00+00:00"
        self.run("commit", "-q", "--allow-empty", "-m", message, date=when)
        return self.run("rev-parse", "HEAD")

    def key(self, tmp: Path, name: str = "seid", trust: bool = True) -> Signer:
        made = keys.generate(tmp / f"keys-{name}", name)
        if trust:
            trust_dir = self.path / ".sei" / "trust"
            trust_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy(made.public_path, trust_dir / f"{made.key_id}.pub")
        signer = keys.load_signer(made.private_path)
        self.signer = self.signer or signer
        return signer

    def bundle(
        self,
        commit: str,
        verdicts: list[dict[str, Any]] | None = None,
        signer: Signer | None = None,
        gate: str | None = None,
        **predicate: Any,
    ) -> bytes:
        """Sign an evidence bundle for ``commit`` and append it to the signer's log."""
        signer = signer or self.signer
        assert signer is not None, "call key() first"
        entry = sign_bundle(signer, commit, verdicts or [], gate, **predicate)
        with Ledger.open(self.path, signer.public_key.keyid, create=True) as ledger:
            ledger.append(entry, signer)
        return entry


def verdict(observed: float, result: str, constraint: str = "< 0.03") -> dict[str, Any]:
    return {
        "risk": "unfair",
        "measure": "dp-gap",
        "metric": "demographic_parity_diff",
        "observed": observed,
        "constraint": constraint,
        "enforcement": "gate",
        "verdict": result,
    }


def sign_bundle(
    signer: Signer, commit: str, verdicts: list[dict[str, Any]], gate: str | None, **extra: Any
) -> bytes:
    gate = gate or ("fail" if any(v["verdict"] != "pass" for v in verdicts) else "pass")
    predicate: dict[str, Any] = {
        "git": {"commit": commit, "branch": "main", "dirty": False},
        "drift": {"classes": [], "paths": {}},
        "inputs": {"A": {}, "B": {}, "C": {}},
        "manifest_digest": "0" * 64,
        "claims": [],
        "pipeline": {"tool": "command", "started": "2026-01-01T00:00:00Z"},
        "metrics": {v["metric"]: v["observed"] for v in verdicts},
        "verdicts": verdicts,
        "risk_analysis": [],
        "gate": gate,
        "host": "test-host",
        **extra,
    }
    subject = evidence.Subject("metrics.json", "b" * 64)
    statement = evidence.statement([subject], evidence.EVIDENCE_PREDICATE, predicate)
    return evidence.sign(statement, signer)


@pytest.fixture
def hist(tmp_path: Path) -> Repo:
    path = tmp_path / "repo"
    path.mkdir()
    return Repo(path)


def tamper_signature(repo: Path, log_id: str, index: int) -> None:
    """Rewrite entry ``index`` with a corrupted signature, keeping the framing valid."""
    path = log_dir(repo, log_id) / "log"
    with path.open("rb") as stream:
        pairs = list(records.iterate_pairs(stream))
    entry, note = pairs[index]
    envelope = json.loads(entry)
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    sig[0] ^= 0xFF
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    pairs[index] = (json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode(), note)
    path.write_bytes(b"".join(records.pack_pair(e, n) for e, n in pairs))


def every_finding(hist: Repo, tmp_path: Path) -> dict[str, str]:
    """A history that earns one or more findings of every kind (judged in 2027)."""
    signer = hist.key(tmp_path)
    shas = {"first": hist.commit({"sei.yaml": manifest(), "train.py": "v1"}, "risk program")}
    hist.bundle(shas["first"], [verdict(0.05, "fail")])
    hist.run("tag", "credit@v0.1.0")  # GTO: a version registered
    shas["untested"] = hist.commit({"train.py": "v2"}, "retrain | <b>fast</b>")
    shas["also"] = hist.commit({"data/x.csv": "1"})
    hist.run("tag", "credit#prod#1")  # GTO: a stage assigned
    hist.commit({"train.py": "v3", "data/x.csv": "2"})  # before anything evidenced v2
    shas["relax"] = hist.commit({"sei.yaml": manifest(constraint="< 0.06")}, "relax")
    hist.commit({"claims/fair.prml.yaml": claim()})
    shas["amended"] = hist.commit({"claims/fair.prml.yaml": claim(threshold=0.05)})
    hist.bundle(shas["relax"], [verdict(0.05, "pass", "< 0.06")])
    hist.bundle(shas["relax"], [verdict(0.05, "pass", "< 0.06")])
    tamper_signature(hist.path, signer.public_key.keyid, 2)
    return shas


NOW = datetime(2027, 1, 1, tzinfo=UTC)


def make_doc(hist: Repo) -> dict[str, Any]:
    """The reconstruct document of ``hist`` as replay builds it, judged at :data:`NOW`."""
    history = walk(hist.path)
    found = join(hist.path, history)
    cycles = build(history, found, NOW)
    scope = report.Scope(history.commits[-1].sha, None, None, NOW)
    return report.document(scope, history, found, cycles, find(history, found, cycles))


@pytest.fixture(scope="module")
def story_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Built once per test module: a history with every kind of finding, as a document."""
    base = tmp_path_factory.mktemp("story")
    (base / "repo").mkdir()
    hist = Repo(base / "repo")
    every_finding(hist, base)
    return make_doc(hist)


@pytest.fixture
def doc(story_doc: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(story_doc)
