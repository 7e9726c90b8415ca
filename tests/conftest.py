"""Shared fixtures: real subprocesses of the real CLI, real git repositories."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from seid import keys

ROOT = Path(__file__).resolve().parent.parent
# Public vectors (PRML, RFC 9162 proofs), copied into the tests with their sources named.
CONFORMANCE = ROOT / "tests" / "data" / "conformance"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


SeidRunner = Callable[..., Result]


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEID_", "GIT_"))}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Ada Tester",
        GIT_AUTHOR_EMAIL="ada@example.org",
        GIT_COMMITTER_NAME="Ada Tester",
        GIT_COMMITTER_EMAIL="ada@example.org",
        NO_COLOR="1",
    )
    return env


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A process environment with its own HOME and a fixed git identity."""
    return _clean_env(tmp_path_factory.mktemp("home"))


@pytest.fixture
def seid(env: dict[str, str]) -> SeidRunner:
    """Run the real ``seid`` CLI in a subprocess; returns exit code, stdout, stderr."""

    def run(
        *args: str | Path,
        cwd: Path | None = None,
        extra_env: dict[str, str] | None = None,
        stdin: str | None = None,
        timeout: float = 120,
    ) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "seid", *map(str, args)],
            cwd=cwd,
            env={**env, **(extra_env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


def stop_group(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """End a process a test started with ``start_new_session=True``, and everything it
    spawned: SIGTERM to its whole group, then SIGKILL after ``grace`` seconds (an
    ``mlflow server`` under load can overrun any polite wait)."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in ``repo`` and return its stdout; fails the test on error."""
    proc = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"git {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


@pytest.fixture
def repo(tmp_path: Path, env: dict[str, str]) -> Path:
    """An empty git repository with one identity, in a temp dir."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main", env=env)
    git(path, "config", "user.name", "Ada Tester", env=env)
    git(path, "config", "user.email", "ada@example.org", env=env)
    git(path, "config", "commit.gpgsign", "false", env=env)
    return path


def assert_one_line_error(result: Result, *fragments: str, code: int = 2) -> None:
    """A user error: the given exit code, exactly one line on stderr, no traceback."""
    assert result.code == code, (result.code, result.out, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# A toy project with a plain command pipeline, for the chain end to end.
COMMAND_MANIFEST = """\
version: seid/1
system: {name: toy}
pipeline: {tool: command, command: [python, eval.py], metrics: metrics.json}
inputs: {criteria: [sei.yaml], treatment: [eval.py, params.json], data: [data/**]}
risk:
  appetite: {individual: MEDIUM}
  overall_residual_criterion: MEDIUM
  risks:
    - id: r1
      impact: {individual: HIGH}
      likelihood: LIKELY
      treat:
        - method: REDUCE
          residual_likelihood: UNLIKELY
          measures:
            - {id: gap, metric: gap, constraint: "< 0.03", enforcement: gate}
            - {id: acc, metric: accuracy, constraint: ">= 0.7", enforcement: audit}
"""

# Counts its own runs in runs.txt (not watched), can fail or skip the metrics on request,
# and can touch a watched input while it runs.
COMMAND_EVAL = """\
import json, pathlib
p = json.load(open("params.json"))
with open("runs.txt", "a") as fh:
    fh.write("run\\n")
if p.get("touch"):
    pathlib.Path("data/d.csv").write_text("changed while running\\n")
if p.get("exit"):
    raise SystemExit(p["exit"])
if not p.get("no_metrics"):
    gap = {"value": p["gap"], "power": p["power"]} if p.get("power") else p["gap"]
    json.dump({"gap": gap, "accuracy": 0.8}, open("metrics.json", "w"))
"""


@pytest.fixture
def command_project(repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A repo whose pipeline is a plain command, a trusted key: (repo, private key)."""
    (repo / "sei.yaml").write_text(COMMAND_MANIFEST)
    (repo / "eval.py").write_text(COMMAND_EVAL)
    (repo / "params.json").write_text('{"gap": 0.05}')
    (repo / "data").mkdir()
    (repo / "data" / "d.csv").write_text("1,2\n")
    key = keys.generate(tmp_path / "keys")
    keys.add_trusted(repo, key.public_path)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo, key.private_path


def decide(repo: Path, keydir: Path, name: str, decision: str, role: str | None = None) -> None:
    """``name``, with a trusted key of their own, signs ``decision`` on what is current."""
    from datetime import UTC, datetime

    from seid.approvals.statement import Identity, append, build, current_binding, read_ledger
    from seid.config import load_manifest

    made = keys.generate(keydir / f"keys-{name}", name)
    keys.add_trusted(repo, made.public_path)
    signer = keys.load_signer(made.private_path)
    manifest = load_manifest(repo)
    current, _ = current_binding(repo, manifest, read_ledger(repo))
    who = Identity(name.title(), f"{name}@example.org", signer.public_key.keyid)
    made_at = datetime.now(UTC)
    statement = build(decision, who, current, manifest, role=role, now=made_at)
    append(repo, statement, signer)


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def respell_base64(text: str) -> str:
    """The same bytes as padded canonical base64 ``text``, spelled with a flip in the
    unused low bits of its last character: a lenient decoder reads no difference."""
    body = text.rstrip("=")
    unused = {1: 0b11, 2: 0b1111}[len(text) - len(body)]  # bits past the last whole byte
    return body[:-1] + _B64[_B64.index(body[-1]) ^ unused] + text[len(body) :]
