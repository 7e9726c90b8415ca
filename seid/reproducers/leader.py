"""The pipeline's process-group leader: the group dies with seid, even by SIGKILL.

A SIGKILLed daemon cannot stop the pipeline it started, and a pipeline tool's workers
(DVC's stage commands, MLflow's entry points) would run on as orphans next to the
rerun a restarted daemon makes. This small program leads the pipeline's process group
in seid's place: it asks the kernel for a signal when its parent dies
(``PR_SET_PDEATHSIG``), and on that signal, or on SIGTERM/SIGINT, it stops the whole
group: SIGTERM, then SIGKILL after the grace period.

It is run by file path with ``python -I``, so it imports nothing of seid (the
standard library only) and costs a bare interpreter start. Usage::

    python -I leader.py PARENT_PID GRACE_SECONDS -- ARGV...
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from types import FrameType

_PR_SET_PDEATHSIG = 1
_STOPPING = False


def _ask_for_parent_death_signal() -> None:
    """Linux only; elsewhere the group is stopped only by an orderly stop."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _stop_group(grace: float) -> None:
    """SIGTERM every other member of the group, SIGKILL them all after ``grace``."""
    global _STOPPING
    if _STOPPING:
        return
    _STOPPING = True
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    group = os.getpgrp()
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                time.sleep(0.05)
        except ChildProcessError:
            break
    os.killpg(group, signal.SIGKILL)  # ends this leader too, last


def main(argv: list[str]) -> int:
    parent, grace, sep, *command = argv
    if sep != "--" or not command:
        print("usage: leader.py PARENT_PID GRACE -- ARGV...", file=sys.stderr)
        return 2
    _ask_for_parent_death_signal()
    if os.getppid() != int(parent):  # seid died before the request took effect
        return 1

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        _stop_group(float(grace))

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    proc = subprocess.Popen(command)
    while True:
        try:
            code = proc.wait()
            break
        except InterruptedError:
            continue
    if code < 0:  # die of the same signal, so seid sees what the tool saw
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
