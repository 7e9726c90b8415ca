"""Benchmark ``seid daemon``: change-to-bundle latency, idle RSS and CPU, start-up time.

Makes its own git repositories with a ``command`` pipeline that only writes a metrics
file, starts the real daemon as a subprocess with a notify socket it binds, and prints
a markdown table (and ``--json``):

- latency from the write of a treatment file to the appended bundle (ledger head grew),
  p50/p95 over ``--changes`` changes, and the overhead beyond the debounce quiet period
  (target: <= 300 ms at p50);
- resident memory with ``--repos`` repositories watched, idle (target: <= 80 MB);
- CPU used while idle over ``--idle`` seconds (target: < 1%);
- start-up until ``READY=1`` with ``--repos`` repositories (target: <= 1.5 s).

    .venv/bin/python tools/bench_daemon.py [--changes 50] [--repos 10] [--idle 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchenv

from seid import keys
from seid.daemon.runner import ledger_size

MANIFEST = """\
version: seid/1
system: {name: bench}
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
"""
EVAL = 'import json\njson.dump({"gap": 0.01}, open("metrics.json", "w"))\n'


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def make_repo(path: Path, pub: Path) -> Path:
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    (path / "sei.yaml").write_text(MANIFEST)
    (path / "eval.py").write_text(EVAL)
    (path / "params.json").write_text('{"n": 0}')
    (path / "data").mkdir()
    (path / "data" / "d.csv").write_text("1\n")
    (path / ".gitignore").write_text("metrics.json\n")
    keys.add_trusted(path, pub)
    _git(path, "add", "-A")
    _git(path, "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-qm", "init")
    return path


class Daemon:
    def __init__(self, work: Path, repos: list[Path], key: Path, quiet: float) -> None:
        config = work / "seid.toml"
        config.write_text(
            f"[debounce]\nquiet = {quiet}\n[schedules]\nreconcile = 0\nverify = 0\nreview = 0\n"
        )
        sock_path = work / f"notify-{len(repos)}.sock"
        sock_path.unlink(missing_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(sock_path))
        self.sock.settimeout(60)
        env = {**os.environ, "NOTIFY_SOCKET": str(sock_path)}
        argv = [sys.executable, "-m", "seid", "daemon", "--config", str(config)]
        argv += ["--key", str(key), "--json-logs", *map(str, repos)]
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, env=env, stdout=(work / "daemon.log").open("a"), stderr=subprocess.STDOUT
        )
        while not self.sock.recv(4096).startswith(b"READY=1"):
            pass
        self.ready_after = time.perf_counter() - self.started

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.sock.close()


def latency(repo: Path, changes: int) -> list[float]:
    """Seconds from each write of params.json to the ledger head growing."""
    out = []
    for i in range(changes):
        before = ledger_size(repo)
        time.sleep(0.2)  # let the previous batch's follow-ups, if any, finish
        start = time.perf_counter()
        (repo / "params.json").write_text(json.dumps({"n": i + 1}))
        deadline = start + 60
        while ledger_size(repo) <= before:
            if time.perf_counter() > deadline:
                raise SystemExit(f"no bundle within 60 s of change {i}; see the daemon log")
            time.sleep(0.002)
        out.append(time.perf_counter() - start)
    return out


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--repos", type=int, default=10)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--quiet", type=float, default=1.0, help="debounce quiet period (s)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    benchenv.as_installed()
    work = Path(tempfile.mkdtemp(prefix="seid-bench-daemon-"))
    try:
        key = keys.generate(work / "keys")
        one = [make_repo(work / "one", key.public_path)]
        daemon = Daemon(work, one, key.private_path, args.quiet)
        lat = latency(one[0], args.changes)
        daemon.stop()

        many = [make_repo(work / f"r{i}", key.public_path) for i in range(args.repos)]
        daemon = Daemon(work, many, key.private_path, args.quiet)
        time.sleep(3)  # start-up reconciles done
        cpu0, wall0 = daemon.cpu_seconds(), time.perf_counter()
        time.sleep(args.idle)
        cpu = (daemon.cpu_seconds() - cpu0) / (time.perf_counter() - wall0)
        result = {
            "changes": args.changes,
            "quiet_s": args.quiet,
            "latency_p50_s": quantile(lat, 0.50),
            "latency_p95_s": quantile(lat, 0.95),
            "overhead_p50_ms": (quantile(lat, 0.50) - args.quiet) * 1000,
            "repos": args.repos,
            "idle_rss_mb": daemon.rss_mb(),
            "idle_cpu_percent": cpu * 100,
            "ready_s": daemon.ready_after,
            "python": sys.version.split()[0],
        }
        daemon.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("| measure | value | target |\n|---|---|---|")
    print(f"| change -> bundle p50 | {result['latency_p50_s']:.3f} s | |")
    print(f"| change -> bundle p95 | {result['latency_p95_s']:.3f} s | |")
    overhead = result["overhead_p50_ms"]
    print(f"| overhead beyond quiet ({args.quiet} s), p50 | {overhead:.0f} ms | <= 300 ms |")
    print(f"| idle RSS, {args.repos} repos | {result['idle_rss_mb']:.1f} MB | <= 80 MB |")
    print(f"| idle CPU over {args.idle:.0f} s | {result['idle_cpu_percent']:.2f} % | < 1 % |")
    print(f"| start-up to READY=1, {args.repos} repos | {result['ready_s']:.2f} s | <= 1.5 s |")


if __name__ == "__main__":
    main()
