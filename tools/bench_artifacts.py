"""Benchmark `seid artifact pack` against `zstd -3`, `xz -6` and `xz -9e` on the same files.

Makes its own corpus of model-store artifacts (float32 weights as .npy, bfloat16 weights
as safetensors, a pickled scikit-learn model, a loan-application CSV, random bytes),
then runs each command as a subprocess under GNU time, so every tool pays its own
start-up and the peak RSS is the process's own. For each file and tool it reports the
median pack MB/s over ``--runs`` runs, the output size, the peak RSS, and the median
decode MB/s (`seid artifact unpack`, `zstd -d`, `xz -d`). seid runs at its default
level (balanced) and, with ``--max``, at level max too (sizes only; one run).

    .venv/bin/python tools/bench_artifacts.py [--workdir DIR] [--runs N] [--max]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from benchenv import as_installed

MB = 1_000_000
SEID = [sys.executable, "-m", "seid", "artifact"]


def make_csv(path: Path, rng: np.random.Generator, rows: int = 75_000) -> None:
    """A loan-application table (about 6.7 MB): ids, dates, amounts, rates, categories."""
    age = rng.integers(18, 80, rows)
    income = rng.lognormal(10.5, 0.6, rows)
    loan = rng.gamma(2.0, 8000, rows)
    rate = rng.uniform(0.03, 0.25, rows)
    score = rng.integers(300, 850, rows)
    region = rng.choice(["north", "south", "east", "west", "central"], rows)
    job = rng.choice(["salaried", "self-employed", "unemployed", "retired"], rows)
    date = np.datetime64("2020-01-01") + rng.integers(0, 1500, rows)
    lines = ["id,application_date,age,income,loan_amount,interest_rate,credit_score,region,job"]
    for i in range(rows):
        lines.append(
            f"{i + 1},{date[i]},{age[i]},{income[i]:.2f},{loan[i]:.2f},{rate[i]:.4f},"
            f"{score[i]},{region[i]},{job[i]}"
        )
    path.write_text("\n".join(lines) + "\n")


def make_safetensors(path: Path, rng: np.random.Generator) -> None:
    """50 MB of bfloat16 weights in the safetensors layout (written by hand: no torch)."""
    weights = (rng.standard_normal(25_000_000).astype(np.float32) * 0.02).view(np.uint32)
    blob = (weights >> 16).astype(np.uint16).tobytes()
    header = json.dumps(
        {"w": {"dtype": "BF16", "shape": [25_000_000], "data_offsets": [0, len(blob)]}}
    )
    raw = header.encode() + b" " * (-len(header) % 8)
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + blob)


def make_model(path: Path, rng: np.random.Generator) -> None:
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]

    x = rng.normal(size=(5000, 12))
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(scale=0.5, size=5000) > 0).astype(int)
    model = RandomForestClassifier(n_estimators=50, max_depth=10, random_state=0).fit(x, y)
    path.write_bytes(pickle.dumps(model, protocol=5))


def make_corpus(workdir: Path) -> list[Path]:
    rng = np.random.default_rng(7)
    files: dict[str, Callable[[Path], object]] = {
        "weights.npy": lambda p: np.save(
            p, (rng.standard_normal(25_000_000) * 0.02).astype(np.float32)
        ),
        "weights.safetensors": lambda p: make_safetensors(p, rng),
        "model.pkl": lambda p: make_model(p, rng),
        "dataset.csv": lambda p: make_csv(p, rng),
        "random.bin": lambda p: p.write_bytes(rng.bytes(30 * MB)),
    }
    for name, make in files.items():
        make(workdir / name)
    return [workdir / name for name in files]


def measured(command: list[str]) -> tuple[float, int | None]:
    """Wall seconds and peak RSS (KiB, from GNU time when it is installed)."""
    timer = ["/usr/bin/time", "-f", "%M"] if os.path.exists("/usr/bin/time") else []
    start = time.perf_counter()
    proc = subprocess.run([*timer, *command], capture_output=True, check=True)
    seconds = time.perf_counter() - start
    rss = int(proc.stderr.decode().strip().splitlines()[-1]) if timer else None
    return seconds, rss


def tools(path: Path, out: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Pack and unpack commands by tool name."""
    back = out.with_suffix(".back")
    shell = ["sh", "-c"]
    return {
        "seid": (
            [*SEID, "pack", str(path), str(out)],
            [*SEID, "unpack", str(out), str(back)],
        ),
        "zstd -3": (
            ["zstd", "-3", "-q", "-f", str(path), "-o", str(out)],
            ["zstd", "-d", "-q", "-f", str(out), "-o", str(back)],
        ),
        "xz -6": (
            [*shell, f"xz -6 -k -c '{path}' > '{out}'"],
            [*shell, f"xz -d -c '{out}' > '{back}'"],
        ),
        "xz -9e": (
            [*shell, f"xz -9e -k -c '{path}' > '{out}'"],
            [*shell, f"xz -d -c '{out}' > '{back}'"],
        ),
    }


def bench(path: Path, runs: int) -> list[dict[str, object]]:
    rows = []
    size = path.stat().st_size
    for name, (pack, unpack) in tools(path, path.with_suffix(".out")).items():
        if shutil.which(pack[0]) is None and pack[0] != "sh":
            continue
        packs = [measured(pack) for _ in range(runs)]
        out = path.with_suffix(".out")
        stored = out.stat().st_size
        unpacks = [measured(unpack)[0] for _ in range(runs)]
        same = out.with_suffix(".back").read_bytes() == path.read_bytes()
        rows.append(
            {
                "file": path.name,
                "tool": name,
                "size": stored,
                "ratio": stored / size,
                "pack_mbs": size / statistics.median(s for s, _ in packs) / MB,
                "rss_mib": max((r or 0) for _, r in packs) / 1024,
                "unpack_mbs": size / statistics.median(unpacks) / MB,
                "exact": same,
            }
        )
    return rows


def max_size(path: Path) -> int:
    out = path.with_suffix(".max")
    subprocess.run([*SEID, "pack", "--level", "max", str(path), str(out)], check=True,
                   capture_output=True)  # fmt: skip
    return out.stat().st_size


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| file | tool | size | of original | pack MB/s | peak RSS MiB | unpack MB/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['file']} | {r['tool']} | {r['size']:,} | {100 * float(str(r['ratio'])):.1f}% "
            f"| {r['pack_mbs']:.1f} | {r['rss_mib']:.0f} | {r['unpack_mbs']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="keep the corpus here (default: a temp dir)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--max", action="store_true", help="also pack each file at level max")
    args = parser.parse_args()
    as_installed()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        rows: list[dict[str, object]] = []
        maxed: dict[str, int] = {}
        for path in make_corpus(workdir):
            rows += bench(path, args.runs)
            if args.max:
                maxed[path.name] = max_size(path)
    print(table(rows))
    print(f"\n{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if not all(r["exact"] for r in rows):
        print("ERROR: a round trip was not byte-exact")
    for name, size in maxed.items():
        print(f"{name}: level max {size:,} bytes")


if __name__ == "__main__":
    main()
