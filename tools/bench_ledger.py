"""Ledger benchmark: durable appends/s, ``seid verify`` entries/s and peak RSS, proof time.

    .venv/bin/python tools/bench_ledger.py [--runs 5] [--entries 100000] [--proof-size 1000000]

Prints a markdown table for the README's performance section. Large ledgers are built
by writing the same records ``Ledger.append`` writes (each checkpoint chained to the one
before), without an fsync per entry (only
the append benchmark measures durability), then opened once so crash recovery builds
the index and the stored subtree hashes. The million-entry ledger for the proof timing
holds small unsigned entries: proofs read only stored hashes, never entries.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import benchenv

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seid import evidence, keys  # noqa: E402
from seid.ledger import checkpoint, merkle, records  # noqa: E402
from seid.ledger.log import Ledger  # noqa: E402
from seid.ledger.paths import log_dir  # noqa: E402


def make_repo(base: Path, name: str) -> tuple[Path, keys.Signer]:
    repo = base / name
    made = keys.generate(base / f"{name}-keys", "seid")
    keys.add_trusted(repo, made.public_path)
    return repo, keys.load_signer(made.private_path)


def entry(signer: keys.Signer, i: int) -> bytes:
    statement = evidence.statement(
        [evidence.Subject(f"models/model-{i}.pkl", f"{i:064x}")],
        evidence.EVIDENCE_PREDICATE,
        {"run": i, "metrics": {"accuracy": 0.91, "parity": 0.03}},
    )
    return evidence.sign(statement, signer)


def bench_appends(base: Path, runs: int, count: int) -> list[float]:
    rates = []
    for run in range(runs):
        repo, signer = make_repo(base, f"append-{run}")
        entries = [entry(signer, i) for i in range(count)]
        with Ledger.open(repo, signer.public_key.keyid, create=True) as ledger:
            start = time.perf_counter()
            for item in entries:
                ledger.append(item, signer)
            rates.append(count / (time.perf_counter() - start))
    return rates


def bench_fsync(base: Path, runs: int, count: int, size: int) -> list[float]:
    """The peer of a durable append on this disk: a bare ``write`` and ``fsync`` of a
    record of the same size, in the same run."""
    rates = []
    for run in range(runs):
        fd = os.open(base / f"fsync-{run}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        record = os.urandom(size)
        start = time.perf_counter()
        for _ in range(count):
            os.write(fd, record)
            os.fsync(fd)
        rates.append(count / (time.perf_counter() - start))
        os.close(fd)
    return rates


def build(repo: Path, log_id: str, items: Iterator[tuple[bytes, bytes]], n: int) -> None:
    """Write ``log`` as appends would, then let recovery build index and tree."""
    path = log_dir(repo, log_id)
    (path / "tree").mkdir(parents=True, exist_ok=True)
    with (path / "log").open("wb", buffering=1 << 20) as out:
        for item, note in items:
            out.write(records.pack_pair(item, note))
    with Ledger.open(repo, log_id, write=True) as ledger:  # only a writer recovers
        assert ledger.size == n


def signed_ledger(base: Path, n: int) -> tuple[Path, str]:
    repo, signer = make_repo(base, "verify")
    return repo, signed_log(repo, signer, n)


def signed_log(repo: Path, signer: keys.Signer, n: int) -> str:
    """A log of ``n`` signed entries, each with its checkpoint, written straight to disk."""
    log_id = signer.public_key.keyid
    compact = merkle.CompactRange()

    def items() -> Iterator[tuple[bytes, bytes]]:
        note = None
        for i in range(n):
            item = entry(signer, i)
            compact.append(merkle.leaf_hash(item))
            note = checkpoint.sign(log_id, i + 1, compact.root(), signer, note)
            yield item, note

    build(repo, log_id, items(), n)
    return log_id


_RUN_AND_MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
elapsed = time.perf_counter() - start
print(code, elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def bench_verify(repo: Path, log_id: str, n: int, jobs: int, runs: int) -> tuple[float, float]:
    """Median entries/s of the real CLI and the peak RSS (MiB) of any of its processes."""
    rates, rss = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _RUN_AND_MEASURE, sys.executable, "-m", "seid", "-C",
             str(repo), "verify", "--log", log_id, "--jobs", str(jobs)],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        if out[0] != "0":
            raise SystemExit(f"seid verify failed with exit {out[0]}")
        rates.append(n / float(out[1]))
        rss.append(int(out[2]) / 1024)
    return statistics.median(rates), max(rss)


def bench_proofs(base: Path, n: int, samples: int) -> tuple[float, int]:
    repo = base / "proofs"
    log_id = "ab" * 32
    compact = merkle.CompactRange()
    fake_signature = "\n\u2014 seid/x AAAA\n".encode()

    def items() -> Iterator[tuple[bytes, bytes]]:
        for i in range(n):
            item = b"entry %d" % i
            compact.append(merkle.leaf_hash(item))
            yield item, checkpoint.body(log_id, i + 1, compact.root()) + fake_signature

    build(repo, log_id, items(), n)
    rng = random.Random(1)
    times = []
    with Ledger.open(repo, log_id) as ledger:
        root = ledger.root()
        assert root == compact.root()
        for _ in range(samples):
            i = rng.randrange(n)
            start = time.perf_counter()
            proof = ledger.inclusion_proof(i)
            times.append(time.perf_counter() - start)
            merkle.verify_inclusion(merkle.leaf_hash(b"entry %d" % i), i, n, proof, root)
    return statistics.median(times) * 1000, len(proof)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--appends", type=int, default=500)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--proof-size", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None, help="Scratch directory (a real disk).")
    args = parser.parse_args()
    benchenv.as_installed()
    logging.disable(logging.WARNING)  # building by recovery reports each roll-forward
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="seid-bench-") as tmp:
        base = Path(tmp)
        appends = statistics.median(bench_appends(base, args.runs, args.appends))
        repo, log_id = signed_ledger(base, args.entries)
        size_mib = os.path.getsize(log_dir(repo, log_id) / "log") / 2**20
        record = round(size_mib * 2**20 / args.entries)
        fsyncs = statistics.median(bench_fsync(base, args.runs, args.appends, record))
        floor = benchenv.ed25519_verifies_per_second()
        one, rss_one = bench_verify(repo, log_id, args.entries, 1, args.runs)
        two, rss_two = bench_verify(repo, log_id, args.entries, 2, args.runs)
        proof_ms, proof_len = bench_proofs(base, args.proof_size, 1000)
    n, m = f"{args.entries:,}", f"{args.proof_size:,}"
    print(f"| measure (median of {args.runs} runs, {os.cpu_count()} cores) | result |")
    print("|---|---|")
    print(
        f"| durable appends, single writer (fsync each) | {appends:,.0f} /s "
        f"({appends / fsyncs:.0%} of a bare write+fsync: {fsyncs:,.0f} /s) |"
    )
    print(
        f"| `seid verify`, {n} entries ({size_mib:.0f} MiB), 1 process | {one:,.0f} entries/s "
        f"({one / floor:.0%} of `openssl speed ed25519`: {floor:,.0f} verifies/s) |"
    )
    print(f"| `seid verify --jobs 2`, same ledger | {two:,.0f} entries/s ({two / one:.2f}x) |")
    print(f"| peak RSS of `seid verify` (1 / 2 processes) | {rss_one:.0f} / {rss_two:.0f} MiB |")
    print(f"| inclusion proof at {m} entries ({proof_len} hashes) | {proof_ms:.3f} ms |")


if __name__ == "__main__":
    main()
