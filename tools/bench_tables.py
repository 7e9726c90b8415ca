"""Benchmark what a declared Delta table adds to a warm ``seid status``.

Writes a Delta table of V versions (default 1,000) with F data files per version
(default 10: 10,000 files in all), each version one append partitioned into F files
of random bytes, at two sizes (default 100 MiB and 1 GiB in all). For each size, two
git repositories with the same command pipeline and one evidence bundle (a real
``seid run``): one declares the table among its inputs, the other does not. Then, in
one run, the median of R runs (default 7) of each warm ``seid status`` as a
subprocess, the difference, and seid's own hasher over the table's files (what hashing
the table as files would cost, page cache warm), for the ratio.

Prints a markdown table. Not a test: timings depend on the machine and its load.

    .venv/bin/python tools/bench_tables.py [--versions 1000] [--files 10] [--sizes 100,1024]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import benchenv

MANIFEST = """\
version: seid/1
system: {{name: bench}}
pipeline: {{tool: command, command: [python, train.py], metrics: metrics.json}}
inputs:
  criteria: [sei.yaml]
  treatment: [train.py]
{tables}risk:
  appetite: {{individual: MEDIUM}}
  overall_residual_criterion: MEDIUM
  risks:
    - id: r1
      impact: {{individual: HIGH}}
      likelihood: LIKELY
      treat:
        - method: REDUCE
          residual_likelihood: UNLIKELY
          measures:
            - {{id: acc, metric: accuracy, constraint: ">= 0.5", enforcement: gate}}
"""
TRAIN = 'import json\njson.dump({"accuracy": 0.9}, open("metrics.json", "w"))\n'


def write_table(path: Path, versions: int, files: int, total_mib: int) -> None:
    """V appends of F files each (one row per partition), random payloads."""
    import pyarrow as pa
    from deltalake import write_deltalake

    size = total_mib * (1 << 20) // (versions * files)
    for v in range(versions):
        batch = pa.table(
            {
                "part": list(range(files)),
                "version": [v] * files,
                "payload": [os.urandom(size) for _ in range(files)],
            }
        )
        write_deltalake(str(path), batch, mode="append", partition_by=["part"])


def make_repo(root: Path, table: Path | None) -> None:
    """A committed repo, a trusted key, and one bundle from a real ``seid run``."""
    from seid import keys
    from seid.run import run

    root.mkdir(parents=True)
    entry = f"  tables:\n    - {{name: events, format: delta, uri: {table}}}\n" if table else ""
    (root / "sei.yaml").write_text(MANIFEST.format(tables=entry))
    (root / "train.py").write_text(TRAIN)
    (root / ".gitignore").write_text("metrics.json\n")
    made = keys.generate(root.parent / f"keys-{root.name}")
    keys.add_trusted(root, made.public_path)
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "config", "user.email", "bench@example.org"],
        ["git", "config", "user.name", "bench"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "bench"],
    ):
        subprocess.run(argv, cwd=root, check=True, capture_output=True)
    past = time.time() - 10  # old enough for the stat cache to trust (racy-clean rule)
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            os.utime(path, (past, past))
    report = run(root, keys.load_signer(made.private_path), echo=False)
    if report.status != "attested":
        sys.exit(f"the baseline run of {root} did not attest: {report}")


def status(root: Path) -> None:
    argv = [sys.executable, "-m", "seid", "status"]
    proc = subprocess.run(argv, cwd=root, capture_output=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"seid status in {root} is not clean:\n{proc.stdout.decode()}")


def median(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def hash_files(table: Path) -> None:
    from seid.statcache import hash_file

    for path in sorted(table.rglob("*.parquet")):
        hash_file(path, path.name)


def measure(work: Path, table: Path, runs: int) -> tuple[float, float, float]:
    """Warm status with the table, without it, and hashing the table's files."""
    for repo in (work / "with", work / "without"):
        status(repo)  # warm the stat cache and the watch list
    with_table = median(lambda: status(work / "with"), runs)
    without = median(lambda: status(work / "without"), runs)
    hashing = median(lambda: hash_files(table), 3)
    return with_table, without, hashing


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--sizes", default="100,1024", help="MiB per table, comma-separated")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    benchenv.as_installed()
    rows = []
    with tempfile.TemporaryDirectory(prefix="seid-bench-tables-") as tmp:
        for mib in (int(s) for s in args.sizes.split(",")):
            work = Path(tmp) / f"{mib}"
            table = work / "lake" / "events"
            t = time.perf_counter()
            write_table(table, args.versions, args.files, mib)
            written = time.perf_counter() - t
            make_repo(work / "with", table)
            make_repo(work / "without", None)
            timed = measure(work, table, args.runs)
            files = len(list(table.rglob("*.parquet")))
            size = sum(p.stat().st_size for p in table.rglob("*.parquet")) / (1 << 20)
            rows.append((mib, files, size, written, *timed))
    print(f"{args.versions} versions, {args.files} files per version, median of {args.runs}\n")
    print("| table | warm status with it | without | difference | hashing its files | ratio |")
    print("|---|---|---|---|---|---|")
    for _mib, files, size, _written, with_table, without, hashing in rows:
        diff = with_table - without
        print(
            f"| {files} files, {size:.0f} MiB | {with_table * 1000:.0f} ms | "
            f"{without * 1000:.0f} ms | {diff * 1000:.0f} ms | {hashing * 1000:.0f} ms | "
            f"{hashing / diff:.1f}x |"
        )


if __name__ == "__main__":
    main()
