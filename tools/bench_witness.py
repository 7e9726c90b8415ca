"""Witnessed-ledger benchmark: an auditor's ``seid verify`` over many cosigned logs, and
one witness cosigning every log after each grew.

    .venv/bin/python tools/bench_witness.py [--logs 100] [--entries 10000] [--grow 100] [--runs 3]

One git repository plays the hosts, both witnesses and the auditor: each log is built as
``tools/bench_ledger.py`` builds one (signed entries, chained signed checkpoints, written
as appends write them), published to ``refs/seid/ledger/<id>``, and cosigned by two
witnesses under a ``sei.yaml`` policy of quorum 2. Then every log grows by ``--grow``
entries through ``Ledger.append``, is published again, and the time of one witness's
``seid witness cosign`` (the real CLI, a subprocess; no remote) is measured. The local
logs are then removed, so ``seid verify --jobs 2`` checks the published logs and their
cosignatures only, as on an auditor's clone. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchenv
from bench_ledger import entry, signed_log

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seid import keys  # noqa: E402
from seid.ledger import publish  # noqa: E402
from seid.ledger.log import Ledger  # noqa: E402
from seid.ledger.witness import Witness  # noqa: E402

MANIFEST = """\
version: seid/1
system: {name: bench, intended_purpose: witnessed ledgers}
pipeline: {tool: dvc, metrics: metrics.json}
evidence:
  witnesses: {keys: [.sei/trust/witnesses/*.pub], quorum: 2}
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def setup(base: Path, logs: int, n: int, grow: int) -> tuple[Path, list[Path]]:
    """The repository with ``logs`` published logs of ``n`` entries, each cosigned by two
    witnesses at ``n - grow`` entries; returns it and the witnesses' private keys."""
    repo = base / "auditor"
    git(base, "init", "-q", str(repo))
    (repo / ".sei" / "trust" / "witnesses").mkdir(parents=True)
    (repo / "sei.yaml").write_text(MANIFEST)
    signers = []
    for i in range(logs):
        made = keys.generate(base / f"host-{i}", "seid")
        keys.add_trusted(repo, made.public_path)
        signers.append(keys.load_signer(made.private_path))
        publish.publish(repo, signed_log(repo, signers[-1], n - grow))
    privates = []
    for name in ("w1", "w2"):
        made = keys.generate(base / name, name)
        shutil.copy(made.public_path, repo / ".sei" / "trust" / "witnesses" / f"{made.key_id}.pub")
        Witness(repo, keys.load_signer(made.private_path)).cosign_all(keys.trusted_keys(repo))
        privates.append(made.private_path)
    for signer in signers:
        with Ledger.open(repo, signer.public_key.keyid, write=True) as ledger:
            for i in range(n - grow, n):
                ledger.append(entry(signer, i), signer)
        publish.publish(repo, signer.public_key.keyid)
    return repo, privates


def timed(repo: Path, expect: tuple[str, int], *args: str) -> float:
    """Seconds of one ``seid`` subprocess, which must succeed and print ``expect[0]``
    ``expect[1]`` times (so a run that did nothing is never reported)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "seid", *args], cwd=repo, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or done.stdout.count(expect[0]) != expect[1]:
        raise SystemExit(f"seid {args[0]}: {done.stdout[-500:]!r} {done.stderr[-500:]!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=100)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--grow", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="Scratch directory (a real disk).")
    args = parser.parse_args()
    benchenv.as_installed()
    logging.disable(logging.WARNING)  # building by recovery reports each roll-forward
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="seid-bench-") as tmp:
        repo, (first, second) = setup(Path(tmp), args.logs, args.entries, args.grow)
        cosigned = ("entries): cosigned", args.logs)
        cosign = timed(repo, cosigned, "witness", "cosign", "--key", str(first))
        timed(repo, cosigned, "witness", "cosign", "--key", str(second))
        shutil.rmtree(repo / ".sei" / "ledger")  # the auditor holds the published logs only
        witnessed = (f"{args.entries} entries, {args.entries} witnessed", args.logs)
        verify = [timed(repo, witnessed, "verify", "--jobs", "2") for _ in range(args.runs)]
    floor = benchenv.ed25519_verifies_per_second()
    signatures = args.logs * args.entries / (floor * min(2, os.cpu_count() or 1))
    total = f"{args.logs:,} logs x {args.entries:,} entries"
    print(f"| measure ({os.cpu_count()} cores) | result |")
    print("|---|---|")
    print(f"| one witness cosigns {args.logs:,} logs grown by {args.grow} | {cosign:.2f} s |")
    print(f"| `seid verify --jobs 2`, {total}, 2 cosignatures each (median of {args.runs}) "
          f"| {statistics.median(verify):.1f} s |")  # fmt: skip
    print(f"| the same number of Ed25519 verifications by `openssl speed` ({floor:,.0f}/s "
          f"a core, measured now) on 2 cores | {signatures:.1f} s |")  # fmt: skip


if __name__ == "__main__":
    main()
