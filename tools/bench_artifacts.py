"""Benchmark seid artifact containers against `xz -9e` and `zstd -19 --long`.

Makes its own corpus of typical ML artifacts (a pickled scikit-learn model, a 200,000-row
CSV dataset, float32 weights as .npy, a JSON metrics file, an incompressible random
file), packs each with seid, compresses each with the xz and zstd command-line tools
(or, when a binary is missing, Python's lzma / zstandard at the same settings, said in
the output), and prints a markdown table of sizes and throughput.

    .venv/bin/python tools/bench_artifacts.py [--workdir DIR] [--rows N]
"""

from __future__ import annotations

import argparse
import json
import lzma
import pickle
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from seid import container

MiB = 1 << 20


def make_csv(path: Path, rows: int, rng: np.random.Generator) -> None:
    """A loan-application table: ids, dates, integers, money, rates, categories."""
    age = rng.integers(18, 80, rows)
    income = rng.lognormal(10.5, 0.6, rows)
    loan = rng.gamma(2.0, 8000, rows)
    term = rng.choice([12, 24, 36, 48, 60], rows)
    rate = rng.uniform(0.03, 0.25, rows)
    score = rng.integers(300, 850, rows)
    region = rng.choice(["north", "south", "east", "west", "central"], rows)
    group = rng.choice(["A", "B"], rows, p=[0.7, 0.3])
    job = rng.choice(["salaried", "self-employed", "unemployed", "retired"], rows)
    default = (rng.random(rows) < 0.12).astype(int)
    date = np.datetime64("2020-01-01") + rng.integers(0, 1500, rows)
    header = "id,application_date,age,income,loan_amount,term_months,interest_rate,"
    lines = [header + "credit_score,region,group,employment,default"]
    for i in range(rows):
        lines.append(
            f"{i + 1},{date[i]},{age[i]},{income[i]:.2f},{loan[i]:.2f},{term[i]},"
            f"{rate[i]:.4f},{score[i]},{region[i]},{group[i]},{job[i]},{default[i]}"
        )
    path.write_text("\n".join(lines) + "\n")


def make_model(path: Path, rng: np.random.Generator) -> None:
    from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-untyped]

    x = rng.normal(size=(5000, 12))
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(scale=0.5, size=5000) > 0).astype(int)
    model = RandomForestClassifier(n_estimators=50, max_depth=10, random_state=0).fit(x, y)
    path.write_bytes(pickle.dumps(model, protocol=5))


def make_corpus(workdir: Path, rows: int) -> list[Path]:
    rng = np.random.default_rng(7)
    files: dict[str, Callable[[Path], object]] = {
        "model.pkl": lambda p: make_model(p, rng),
        "dataset.csv": lambda p: make_csv(p, rows, rng),
        "weights.npy": lambda p: np.save(p, rng.normal(0, 0.02, 2_000_000).astype(np.float32)),
        "metrics.json": lambda p: p.write_text(json.dumps(_metrics(rng), indent=2)),
        "random.bin": lambda p: p.write_bytes(rng.bytes(4 * MiB)),
    }
    paths = []
    for name, make in files.items():
        path = workdir / name
        make(path)
        paths.append(path)
    return paths


def _metrics(rng: np.random.Generator) -> dict[str, object]:
    steps = [{"step": i, "loss": float(1 / (i + 1) + rng.random() * 0.01)} for i in range(500)]
    return {"accuracy": 0.913, "auc": 0.957, "parity_gap": 0.021, "history": steps}


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def cli_size(tool: list[str], path: Path) -> tuple[int, str]:
    """Compressed size by the CLI, or by Python's library at the same settings."""
    if shutil.which(tool[0]):
        out = subprocess.run([*tool, "-c", str(path)], capture_output=True, check=True).stdout
        return len(out), " ".join(tool)
    data = path.read_bytes()
    if tool[0] == "xz":
        return len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)), "lzma 9e (no xz CLI)"
    import zstandard

    params = zstandard.ZstdCompressionParameters.from_level(19, window_log=27, enable_ldm=True)
    size = len(zstandard.ZstdCompressor(compression_params=params).compress(data))
    return size, "zstandard 19 long (no zstd CLI)"


def bench(path: Path) -> dict[str, object]:
    packed = path.with_name(path.name + ".seid")
    restored = path.with_name(path.name + ".out")
    encode = timed(lambda: container.pack(path, packed))
    decode = timed(lambda: container.unpack(packed, restored))
    assert restored.read_bytes() == path.read_bytes()
    header = container.header_of(packed)
    xz, xz_tool = cli_size(["xz", "-9e", "-k"], path)
    zstd, zstd_tool = cli_size(["zstd", "-19", "--long", "-q"], path)
    speedup = _zstd_speedup(path) if header.codec is container.Codec.ZSTD else None
    return {
        "name": path.name,
        "size": path.stat().st_size,
        "codec": header.codec.name.lower(),
        "seid": packed.stat().st_size,
        "xz": xz,
        "zstd": zstd,
        "tools": f"{xz_tool}; {zstd_tool}",
        "encode": path.stat().st_size / encode / MiB,
        "decode": path.stat().st_size / decode / MiB,
        "zstd_speedup": speedup,
    }


def _zstd_speedup(path: Path) -> float:
    """How much faster the zstd payload decodes than the xz one would (codec only)."""
    from seid.container import codecs

    data = path.read_bytes()
    xz, zstd = codecs.xz_compress(data), codecs.zstd_compress(data)
    assert zstd is not None
    xz_decoder = [{"id": lzma.FILTER_LZMA2, "dict_size": codecs.xz_dict_size(len(data))}]
    xz_time = _repeat(lambda: lzma.decompress(xz, format=lzma.FORMAT_RAW, filters=xz_decoder))
    import zstandard

    return xz_time / _repeat(lambda: zstandard.ZstdDecompressor().decompress(zstd))


def _repeat(action: Callable[[], object], at_least: float = 0.5) -> float:
    """Seconds per call, repeated until ``at_least`` seconds have passed (tiny files)."""
    calls, spent = 0, 0.0
    while spent < at_least:
        spent += timed(action)
        calls += 1
    return spent / calls


def table(results: list[dict[str, object]]) -> str:
    rows = [
        "| file | size | codec | seid | xz -9e | zstd -19 --long | vs xz"
        " | pack MiB/s | unpack MiB/s |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        seid, xz = int(str(r["seid"])), int(str(r["xz"]))
        rows.append(
            f"| {r['name']} | {r['size']:,} | {r['codec']} | {seid:,} | {xz:,} | {r['zstd']:,} "
            f"| {100 * (seid - xz) / xz:+.1f}% | {r['encode']:.2f} | {r['decode']:.1f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="keep the corpus here (default: a temp dir)")
    parser.add_argument("--rows", type=int, default=200_000, help="CSV rows (default 200,000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = [bench(path) for path in make_corpus(workdir, args.rows)]
    print(table(results))
    print(f"\nreference tools: {results[0]['tools']}")
    print("sizes in bytes; seid sizes include the 50-byte header")
    for r in results:
        if r["zstd_speedup"] is not None:
            print(f"{r['name']}: zstd chosen; its payload decodes {r['zstd_speedup']:.1f}x faster")


if __name__ == "__main__":
    main()
