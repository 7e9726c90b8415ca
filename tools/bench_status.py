"""Benchmark ``seid status`` against ``dvc status`` and ``git status``; hashing throughput.

Generates a repo with N watched data files (default 10,000 files, about 1 GiB in all,
tracked with ``dvc add``) and a two-stage DVC pipeline over them, reproduces it once,
then, in one run, takes the median of R runs (default 5) of each:

- warm ``seid status`` (no evidence yet: a run is due, exit 1; and with one trusted
  evidence bundle in the ledger: clean), warm ``dvc status``, ``git status``, all as
  subprocesses on the same repo;
- cold hashing (not in the stat cache; the file is in the page cache for both) of one
  1 GiB file by seid's hasher against ``openssl dgst -sha256``;
- hashing all data files with 1 and with 2 threads;
- ``python -X importtime`` of a warm clean ``seid status``.

Prints a markdown table. Not a test: timings depend on the machine and its load.

    .venv/bin/python tools/bench_status.py [--files 10000] [--total-mib 1024] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import benchenv

from seid.statcache import StatCache, hash_file

FEATURIZE = """\
import hashlib, pathlib
h = hashlib.sha256()
for p in sorted(pathlib.Path("data").rglob("*.bin")):
    h.update(p.read_bytes()[:64])
pathlib.Path("features").mkdir(exist_ok=True)
pathlib.Path("features/summary.txt").write_text(h.hexdigest())
"""
TRAIN = """\
import json, pathlib
summary = pathlib.Path("features/summary.txt").read_text()
pathlib.Path("model").mkdir(exist_ok=True)
pathlib.Path("model/model.txt").write_text(summary[::-1])
pathlib.Path("metrics.json").write_text(json.dumps({"accuracy": 0.8}))
"""
DVC_YAML = """\
stages:
  featurize:
    cmd: python featurize.py
    deps: [data, featurize.py]
    outs: [features]
  train:
    cmd: python train.py
    deps: [features, train.py]
    params: [train]
    outs: [model]
    metrics:
      - metrics.json:
          cache: false
"""
SEI_YAML = """\
version: seid/1
system: {name: bench, intended_purpose: status benchmark}
pipeline: {tool: dvc, metrics: metrics.json, params: params.yaml}
"""


def env() -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "DVC_IGNORE_UPDATES": "1",
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def sh(argv: Sequence[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, cwd=cwd, env=env(), capture_output=True, check=check)


def generate(root: Path, files: int, total_mib: int) -> None:
    """The repo: random data under data/ (dvc add), code, params, sei.yaml; reproduced."""
    root.mkdir(parents=True)
    size = total_mib * (1 << 20) // files
    for i in range(files):
        d = root / "data" / f"part-{i // 500:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i:05d}.bin").write_bytes(os.urandom(size))
    for name, text in {
        "featurize.py": FEATURIZE,
        "train.py": TRAIN,
        "dvc.yaml": DVC_YAML,
        "sei.yaml": SEI_YAML,
        "params.yaml": "train:\n  c: 1.0\n",
    }.items():
        (root / name).write_text(text)
    sh(["git", "init", "-q", "-b", "main"], root)
    sh(["git", "config", "user.email", "bench@example.org"], root)
    sh(["git", "config", "user.name", "bench"], root)
    sh(["dvc", "init", "-q"], root)
    sh(["dvc", "add", "-q", "data"], root)
    sh(["dvc", "repro", "-q"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-qm", "bench repo"], root)
    # Old enough for the stat cache to trust (racy-clean rule): date everything 10 s back.
    past = time.time() - 10
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            os.utime(path, (past, past))


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def status_is(root: Path, code: int) -> None:
    """``seid status`` exits ``code``: 1 before any evidence (a run is due), 0 after."""
    proc = sh([sys.executable, "-m", "seid", "status"], root, check=False)
    if proc.returncode != code:
        sys.exit(f"seid status exited {proc.returncode}, not {code}:\n{proc.stdout.decode()}")


def add_bundle(root: Path) -> None:
    """One signed evidence bundle recording the current snapshot, appended to the ledger."""
    from seid import evidence, keys
    from seid.config import load_manifest
    from seid.drift import detect
    from seid.ledger.log import Ledger
    from seid.snapshot import watched_globs

    with StatCache.open(root) as cache:
        found = detect(root, watched_globs(root, load_manifest(root)), cache)
    made = keys.generate(root.parent / "keys")
    keys.add_trusted(root, made.public_path)  # the baseline is the newest trusted evidence
    signer = keys.load_signer(made.private_path)
    predicate = {"inputs": found.snapshot.to_predicate(), "pipeline": {"tool": "dvc"}}
    subject = [evidence.Subject("metrics.json", evidence.file_sha256(root / "metrics.json"))]
    statement = evidence.statement(subject, evidence.EVIDENCE_PREDICATE, predicate)
    with Ledger.open(root, made.key_id, create=True) as ledger:
        ledger.append(evidence.sign(statement, signer), signer)


def bench_commands(root: Path, runs: int) -> list[tuple[str, float]]:
    seid = [sys.executable, "-m", "seid", "status"]
    rows = []
    for name, argv in (
        ("seid status (warm, no evidence yet)", seid),
        ("dvc status (warm)", ["dvc", "status", "-q"]),
        ("git status", ["git", "status", "--porcelain"]),
    ):
        sh(argv, root, check=False)  # warm-up: caches filled
        rows.append((name, median_time(lambda a=argv: sh(a, root, check=False), runs)))
    status_is(root, 1)
    add_bundle(root)
    status_is(root, 0)
    rows.append(("seid status (warm, ledger baseline)", median_time(lambda: sh(seid, root), runs)))
    return rows


def bench_big_file(work: Path, runs: int) -> tuple[float, float]:
    big = work / "one-gib.bin"
    with big.open("wb") as f:
        for _ in range(1024):
            f.write(os.urandom(1 << 20))
    # Interleaved, so both see the same load from whatever else runs on the machine.
    seid_times, ossl_times = [], []
    openssl = ["openssl", "dgst", "-sha256", str(big)]
    for _ in range(runs):
        seid_times.append(median_time(lambda: hash_file(big, "one-gib.bin"), 1))
        ossl_times.append(median_time(lambda: sh(openssl, work), 1))
    seid_t, ossl_t = statistics.median(seid_times), statistics.median(ossl_times)
    big.unlink()
    return seid_t, ossl_t


def bench_many(root: Path, runs: int) -> dict[int, float]:
    files = {str(p.relative_to(root)): p.stat() for p in (root / "data").rglob("*.bin")}
    out = {}
    for workers in (1, 2):
        out[workers] = median_time(
            lambda w=workers: StatCache(None).digests(root, files, workers=w), runs
        )
    return out


def importtime(root: Path) -> tuple[float, list[tuple[str, int]]]:
    proc = sh([sys.executable, "-X", "importtime", "-m", "seid", "status"], root, check=False)
    rows = []
    for line in proc.stderr.decode().splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit() and not name.startswith(
                "  "
            ):  # top level: cumulative includes the children
                rows.append((name.strip(), int(cumulative)))
    total = sum(us for _, us in rows) / 1e6
    return total, sorted(rows, key=lambda r: -r[1])[:6]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--total-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="keep the generated repo")
    args = ap.parse_args()
    benchenv.as_installed()
    work = Path(tempfile.mkdtemp(prefix="seid-bench-"))
    root = work / "repo"
    try:
        t = time.perf_counter()
        generate(root, args.files, args.total_mib)
        print(
            f"generated {args.files} files, {args.total_mib} MiB in {time.perf_counter() - t:.0f} s"
        )
        report(root, work, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def report(root: Path, work: Path, args: argparse.Namespace) -> None:
    runs = args.runs
    commands = bench_commands(root, runs)
    seid_t, ossl_t = bench_big_file(work, runs)
    many = bench_many(root, runs)
    imports, top = importtime(root)
    mib = args.total_mib
    dvc_t = dict(commands)["dvc status (warm)"]
    print(f"\n{args.files} watched files, {mib} MiB; median of {runs}; {os.cpu_count()} CPUs\n")
    print("| measurement | median | note |\n|---|---:|---|")
    for name, secs in commands:
        ratio = f"{dvc_t / secs:.1f}x faster than dvc status" if "seid" in name else ""
        print(f"| {name} | {secs * 1000:.0f} ms | {ratio} |")
    print(
        f"| seid hash_file, 1 GiB (cold in stat cache) | {1024 / seid_t:.0f} MiB/s | "
        f"{ossl_t / seid_t:.0%} of openssl |"
    )
    print(f"| openssl dgst -sha256, 1 GiB | {1024 / ossl_t:.0f} MiB/s | |")
    for w, secs in many.items():
        note = f"{many[1] / secs:.2f}x of 1 thread" if w > 1 else ""
        label = f"hash {args.files} files, {w} thread{'s' * (w > 1)}"
        print(f"| {label} | {mib / secs:.0f} MiB/s | {note} |")
    print(
        f"| imports of a warm clean seid status (-X importtime) | {imports * 1000:.0f} ms | "
        f"top: {', '.join(f'{n} {us / 1000:.0f} ms' for n, us in top[:4])} |"
    )


if __name__ == "__main__":
    main()
