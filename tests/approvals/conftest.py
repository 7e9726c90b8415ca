"""Approval fixtures: a real git repository with a manifest, real keys, real bundles."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from securesystemslib.signer import Signer  # type: ignore[attr-defined]

from seid import evidence, keys
from seid.approvals.statement import Decision, Identity, append, build, current_binding, read_ledger
from seid.config import Manifest, load_manifest
from seid.ledger.log import Ledger

IDENTITY = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Ada Tester",
    "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Ada Tester",
    "GIT_COMMITTER_EMAIL": "ada@example.org",
}


def manifest_text(
    roles: list[str] | None = None, expires: str | None = "P30D", policy_lines: str = ""
) -> str:
    """A small valid sei.yaml with one treated risk and an approval policy (``policy_lines``:
    more of it, indented by two spaces)."""
    policy = f"approval:\n  roles_required: [{', '.join(roles or [])}]\n{policy_lines}"
    if expires:
        policy += f"  expires: {expires}\n"
    return f"""\
version: seid/1
system: {{name: demo}}
pipeline: {{tool: command, command: [python, train.py]}}
inputs:
  treatment: [train.py]
{policy}risk:
  appetite: {{individual: MEDIUM}}
  overall_residual_criterion: HIGH
  review_interval: P6M
  risks:
    - id: unfair
      impact: {{individual: HIGH}}
      likelihood: LIKELY
      treat:
        - method: REDUCE
          residual_likelihood: UNLIKELY
          measures:
            - id: dp-gap
              metric: demographic_parity_diff
              constraint: "< 0.03"
              enforcement: gate
"""


def run_git(path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=path,
        env={**IDENTITY, "PATH": "/usr/bin:/bin", "HOME": str(path), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, f"git {args}: {proc.stderr}"
    return proc.stdout.strip()


@dataclass
class Project:
    """A repository under approval: its keys by name and the bundles appended so far."""

    root: Path
    keydir: Path
    signers: dict[str, Signer] = field(default_factory=dict)
    private: dict[str, Path] = field(default_factory=dict)
    runs: int = 0

    def git(self, *args: str, env: dict[str, str] | None = None) -> str:
        return run_git(self.root, *args, env=env)

    def manifest(self) -> Manifest:
        return load_manifest(self.root)

    def key(self, name: str, trust: bool = True) -> Signer:
        made = keys.generate(self.keydir, name)
        if trust:
            keys.add_trusted(self.root, made.public_path)
        signer = keys.load_signer(made.private_path)
        self.signers[name], self.private[name] = signer, made.private_path
        return signer

    def bundle(self, treatment: str, finished: str | None = None) -> bytes:
        """Commit ``train.py`` with ``treatment`` and append a signed evidence bundle for it."""
        (self.root / "train.py").write_text(treatment)
        self.git("add", "train.py")
        self.git("commit", "-q", "--allow-empty", "-m", f"treatment {treatment}")
        self.runs += 1
        predicate = {
            "git": {"commit": self.git("rev-parse", "HEAD"), "branch": "main", "dirty": False},
            "pipeline": {"finished": finished or f"2026-01-01T00:00:{self.runs:02d}+00:00"},
            "gate": "pass",
        }
        subject = evidence.subject_for_file(self.root / "train.py", self.root)
        envelope = evidence.sign(
            evidence.statement([subject], evidence.EVIDENCE_PREDICATE, predicate),
            self.signers["daemon"],
        )
        with Ledger.open(self.root, self.signers["daemon"].public_key.keyid, create=True) as log:
            log.append(envelope, self.signers["daemon"])
        return envelope

    def decide(
        self,
        name: str,
        decision: Decision,
        role: str | None = None,
        at: datetime | None = None,
        email: str | None = None,
        note: str | None = None,
    ) -> bytes:
        """Sign ``decision`` with key ``name``, bound to what is current, into its log."""
        manifest = self.manifest()
        current, _ = current_binding(self.root, manifest, read_ledger(self.root))
        signer = self.signers[name]
        who = Identity(name.title(), email or f"{name}@example.org", signer.public_key.keyid)
        made = build(decision, who, current, manifest, role=role, note=note, now=at)
        return append(self.root, made, signer)[2]


def make_project(
    tmp: Path, roles: list[str] | None, expires: str | None = "P30D", policy_lines: str = ""
) -> Project:
    root = tmp / "repo"
    root.mkdir()
    run_git(root, "init", "-q", "-b", "main")
    run_git(root, "config", "commit.gpgsign", "false")
    run_git(root, "config", "user.name", "Ada Tester")
    run_git(root, "config", "user.email", "ada@example.org")
    (root / "sei.yaml").write_text(manifest_text(roles, expires, policy_lines))
    (root / ".gitignore").write_text(".sei/ledger/\n")
    project = Project(root, tmp / "keys")
    for name in ("daemon", "alice", "bob"):
        project.key(name)
    run_git(root, "add", "sei.yaml", ".gitignore", ".sei/trust")
    run_git(root, "commit", "-q", "-m", "risk program")
    return project


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """Three trusted keys (daemon, alice, bob), one required role, one bundle."""
    made = make_project(tmp_path, ["risk-officer"])
    made.bundle("v1")
    return made
