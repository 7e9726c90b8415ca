"""Benchmark `seid compile` on manifests of growing size: wall time and peak RSS.

Writes manifests of 1,000, 5,000 and 10,000 gate measures (100 measures per risk) in
fresh directories and runs `seid compile` on each as a subprocess under GNU time, so the
figures include start-up and are the process's own. Reports the median wall time over
``--runs`` runs, the peak RSS, and the time per thousand measures: compile time must
grow linearly with the manifest.

    .venv/bin/python tools/bench_compile.py [--runs N] [--sizes 1000,5000,10000]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchenv import as_installed

PER_RISK = 100


def manifest(measures: int) -> str:
    lines = [
        "version: seid/1",
        "system: {name: bench}",
        "pipeline: {tool: command, command: [python, eval.py], metrics: metrics.json}",
        "risk:",
        "  appetite: {individual: MEDIUM}",
        "  overall_residual_criterion: MEDIUM",
        "  risks:",
    ]
    for r in range(measures // PER_RISK):
        lines += [
            f"    - id: r{r}",
            "      impact: {individual: HIGH}",
            "      likelihood: LIKELY",
            "      treat:",
            "        - method: REDUCE",
            "          residual_likelihood: UNLIKELY",
            "          measures:",
        ]
        lines += [
            f'            - {{id: m{r}_{m}, metric: metric_{m}, constraint: "< 0.03", '
            "enforcement: gate}"
            for m in range(PER_RISK)
        ]
    return "\n".join(lines) + "\n"


def measure(workdir: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one `seid compile`."""
    (workdir / "assessment_plan.oscal.yaml").unlink(missing_ok=True)
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", sys.executable, "-m", "seid", "compile"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    wall, rss = proc.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="1000,5000,10000")
    args = parser.parse_args()
    as_installed()
    print("| measures | median wall s | s per 1,000 measures | peak RSS MiB |")
    print("|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="seid-bench-compile-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            workdir = Path(tmp) / str(size)
            workdir.mkdir()
            (workdir / "sei.yaml").write_text(manifest(size))
            (workdir / "eval.py").write_text("print('bench')\n")
            results = [measure(workdir) for _ in range(args.runs)]
            wall = statistics.median(w for w, _ in results)
            rss = max(r for _, r in results) / 1024
            print(f"| {size:,} | {wall:.2f} | {wall / size * 1000:.2f} | {rss:.0f} |")
    print(f"\n{platform.machine()}, {platform.python_version()}")


if __name__ == "__main__":
    main()
