"""One run at a time per repository, whoever starts it: ``.sei/run.lock``.

Two runs at once would snapshot the same drift, run the pipeline twice over the same
outputs and attest twice. :func:`seid.run.run` takes this lock (``flock``, so a killed
holder releases it) for the whole pass and writes who holds it into the file. The CLI
refuses at once and names the holder, as DVC does with its repository lock; the daemon,
which has nobody to tell, waits for it and stays stoppable.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from seid.errors import SeidError
from seid.fsutil import sei_dir

LOCK_NAME = "run.lock"
_POLL = 0.5


class RunLocked(SeidError):
    """Another run of this repository holds the lock."""


@contextlib.contextmanager
def run_lock(root: Path, *, stop: threading.Event | None = None) -> Iterator[None]:
    """Hold the repository's run lock. Without ``stop`` (the CLI) a held lock is an
    error naming its holder; with it (the daemon) the lock is waited for until ``stop``."""
    path = sei_dir(root) / LOCK_NAME
    with path.open("a+", encoding="utf-8") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stop is None:
                    handle.seek(0)
                    holder = handle.read().strip() or "a process that did not say who it is"
                    raise RunLocked(
                        f"another run of this repository is in progress ({holder}; "
                        f"lock {path}); wait for it, or stop it"
                    ) from None
                if stop.wait(_POLL):
                    from seid.reproducers.execute import Interrupted

                    raise Interrupted("stopped while waiting for another run to end") from None
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).replace(microsecond=0).isoformat()
        who = " ".join(os.path.basename(a) for a in sys.argv[:2]) or "seid"
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, {who}, since {started}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)
