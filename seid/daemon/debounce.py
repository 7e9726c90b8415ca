"""Trailing-edge debounce: a burst of file events becomes one settled change set.

A ``git checkout`` of thousands of files, or an editor's save-to-temp-then-rename, fires
many events in a few milliseconds. The batch is released once no event has arrived for
the quiet period, or once the maximum latency has passed since its first event, so a
file that is rewritten forever (a log someone forgot to ignore) cannot hold the batch
back indefinitely.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable


class Debouncer:
    """Collects paths from any thread; calls ``on_settled(paths)`` on its own thread."""

    def __init__(
        self,
        on_settled: Callable[[frozenset[str]], None],
        quiet: float = 1.0,
        max_latency: float = 30.0,
        name: str = "seid-debounce",
    ) -> None:
        if quiet <= 0 or max_latency < quiet:
            raise ValueError("need 0 < quiet <= max_latency")
        self._on_settled = on_settled
        self._quiet = quiet
        self._max_latency = max_latency
        self._cond = threading.Condition()
        self._pending: set[str] = set()
        self._first = 0.0
        self._last = 0.0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def add(self, paths: Iterable[str]) -> None:
        """Record changed paths; restarts the quiet period."""
        now = time.monotonic()
        with self._cond:
            if not self._pending:
                self._first = now
            self._pending.update(paths)
            self._last = now
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def close(self, flush: bool = False) -> None:
        """Stop the thread; with ``flush`` a pending batch is delivered first."""
        with self._cond:
            self._closed = True
            if not flush:
                self._pending.clear()
            self._cond.notify()
        self._thread.join()

    def _due(self) -> float:
        """Seconds until the pending batch settles (<= 0: now)."""
        now = time.monotonic()
        return min(self._last + self._quiet, self._first + self._max_latency) - now

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                while self._pending and not self._closed and (wait := self._due()) > 0:
                    self._cond.wait(wait)
                batch = frozenset(self._pending)
                self._pending.clear()
                closed = self._closed
            if batch:
                self._on_settled(batch)
            if closed:
                return
