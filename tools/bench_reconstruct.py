"""Benchmark ``seid reconstruct`` on a generated history (not a test: prints numbers).

Builds a repository of N commits that touch watched paths (treatment, data, and now
and then the manifest), with M evidence bundles in the ledger, then times
``seid reconstruct --format json`` against ``git log --raw --no-renames`` over the same
repository in the same run. Targets (issue 7): median <= 5 s and a ratio <= 3.

    .venv/bin/python tools/bench_reconstruct.py [--commits 10000] [--bundles 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchenv

from seid import evidence, keys
from seid.ledger.log import Ledger

MANIFEST = """\
version: seid/1
system: {{name: bench}}
pipeline: {{tool: command, command: [python, train.py]}}
inputs:
  treatment: [train.py, params.yaml]
  data: [data/**]
risk:
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
              constraint: "< {threshold}"
              enforcement: gate
"""


def _blob(data: bytes) -> bytes:
    return b"data %d\n%b\n" % (len(data), data)


def generate(repo: Path, commits: int) -> list[str]:
    """One ``git fast-import`` stream: fast enough for 10,000 commits in a few seconds."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    stream = bytearray()
    start = 1_767_225_600  # 2026-01-01
    for i in range(commits):
        stream += b"commit refs/heads/main\n"
        stream += b"committer Bench <bench@example.org> %d +0000\n" % (start + i * 3600)
        stream += _blob(f"change {i}".encode())
        files: dict[str, str] = {}
        if i == 0 or i % 500 == 0:
            files["sei.yaml"] = MANIFEST.format(threshold=0.03 + (i // 500) * 0.001)
        kind = i % 3
        if kind == 0:
            files["train.py"] = f"# version {i}\n"
        elif kind == 1:
            files[f"data/part-{i % 50:02d}.csv"] = f"x\n{i}\n"
        else:
            files["params.yaml"] = f"lr: {i}\n"
        files[f"docs/note-{i % 20}.md"] = f"note {i}\n"
        for path, text in files.items():
            stream += b"M 100644 inline %s\n" % path.encode()
            stream += _blob(text.encode())
        stream += b"\n"
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=bytes(stream), check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=repo, check=True)
    out = subprocess.run(
        ["git", "rev-list", "--reverse", "HEAD"], cwd=repo, capture_output=True, text=True
    )
    return out.stdout.split()


def add_bundles(repo: Path, shas: list[str], count: int, key_dir: Path) -> None:
    made = keys.generate(key_dir, "bench")
    trust = repo / ".sei" / "trust"
    trust.mkdir(parents=True)
    shutil.copy(made.public_path, trust / f"{made.key_id}.pub")
    signer = keys.load_signer(made.private_path)
    step = max(len(shas) // count, 1)
    with Ledger.open(repo, made.key_id, create=True) as ledger:
        for n, sha in enumerate(shas[::step][:count]):
            observed = 0.02 if n % 4 else 0.05
            verdict = {
                "risk": "unfair",
                "measure": "dp-gap",
                "metric": "demographic_parity_diff",
                "observed": observed,
                "constraint": "< 0.03",
                "enforcement": "gate",
                "verdict": "pass" if observed < 0.03 else "fail",
            }
            predicate = {
                "git": {"commit": sha, "branch": "main", "dirty": False},
                "verdicts": [verdict],
                "gate": verdict["verdict"],
                "pipeline": {"tool": "command", "started": f"2026-01-01T00:{n % 60:02d}:00Z"},
            }
            subject = evidence.Subject("metrics.json", f"{n:064x}")
            statement = evidence.statement([subject], evidence.EVIDENCE_PREDICATE, predicate)
            ledger.append(evidence.sign(statement, signer), signer)


def timed(commands: list[list[str]], cwd: Path, runs: int) -> list[list[float]]:
    """Wall times of each command, run in turn ``runs`` times: interleaved, so a machine
    that speeds up or slows down during the benchmark weighs on every command alike."""
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for argv, spent in zip(commands, times, strict=True):
            begin = time.perf_counter()
            proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            spent.append(time.perf_counter() - begin)
            if proc.returncode != 0:
                raise SystemExit(f"{argv[:3]} failed: {proc.stderr.decode()[-500:]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--bundles", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="Keep the generated repository.")
    args = parser.parse_args()
    benchenv.as_installed()
    work = Path(tempfile.mkdtemp(prefix="seid-bench-reconstruct-"))
    try:
        repo = work / "repo"
        begin = time.perf_counter()
        shas = generate(repo, args.commits)
        add_bundles(repo, shas, args.bundles, work / "keys")
        setup = time.perf_counter() - begin
        env_argv = [sys.executable, "-m", "seid", "reconstruct", "--format", "json"]
        seid_times, git_times = timed(
            [[*env_argv, "--now", "2026-06-01T00:00:00Z"], ["git", "log", "--raw", "--no-renames"]],
            repo,
            args.runs,
        )
        seid_median, git_median = statistics.median(seid_times), statistics.median(git_times)
        result = {
            "commits": len(shas),
            "bundles": args.bundles,
            "runs": args.runs,
            "setup_s": round(setup, 2),
            "reconstruct_median_s": round(seid_median, 3),
            "git_log_median_s": round(git_median, 3),
            "ratio": round(seid_median / git_median, 2),
            "cpus": os.cpu_count(),
        }
        print(json.dumps(result))
        print(
            f"seid reconstruct: {seid_median:.2f} s median over {args.runs} runs "
            f"({len(shas)} commits, {args.bundles} bundles); git log --raw --no-renames: "
            f"{git_median:.3f} s; ratio {seid_median / git_median:.1f}"
        )
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
