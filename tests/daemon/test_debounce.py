"""Debounce on real threads: bursts settle into one batch; a storm is cut at max latency."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from seid.daemon.debounce import Debouncer

# Real timers, threads and daemon processes: seconds each, so out of the quick loop.
pytestmark = pytest.mark.slow


def _collector(quiet: float = 0.5) -> tuple[queue.Queue[frozenset[str]], Debouncer]:
    """Quiet period generous enough that a loaded CI machine cannot split a burst."""
    got: queue.Queue[frozenset[str]] = queue.Queue()
    return got, Debouncer(got.put, quiet=quiet, max_latency=2.0)


def test_a_burst_is_one_batch() -> None:
    got, debouncer = _collector()
    try:
        for i in range(10_000):
            debouncer.add([f"data/part-{i % 2500}.csv"])
        batch = got.get(timeout=5)
        assert len(batch) == 2500
        with pytest.raises(queue.Empty):
            got.get(timeout=1.2)
    finally:
        debouncer.close()


def test_events_in_the_quiet_period_join_the_batch() -> None:
    got, debouncer = _collector()
    try:
        debouncer.add(["train.py.swp"])
        time.sleep(0.05)
        debouncer.add(["train.py"])  # the rename that completes an editor's save
        assert got.get(timeout=5) == frozenset({"train.py.swp", "train.py"})
    finally:
        debouncer.close()


def test_a_storm_is_released_at_max_latency() -> None:
    got, debouncer = _collector(quiet=0.3)
    stop = threading.Event()

    def storm() -> None:
        while not stop.is_set():
            debouncer.add(["noisy.log"])
            time.sleep(0.02)

    writer = threading.Thread(target=storm)
    started = time.monotonic()
    writer.start()
    try:
        assert got.get(timeout=10) == frozenset({"noisy.log"})
        # released while events were still arriving, so by max latency, not by quiet
        assert writer.is_alive()
        assert time.monotonic() - started < 10
    finally:
        stop.set()
        writer.join()
        debouncer.close()


def test_separate_bursts_are_separate_batches() -> None:
    got, debouncer = _collector()
    try:
        debouncer.add(["a"])
        assert got.get(timeout=5) == frozenset({"a"})
        debouncer.add(["b"])
        assert got.get(timeout=5) == frozenset({"b"})
    finally:
        debouncer.close()


def test_close_with_flush_delivers_and_without_drops() -> None:
    got, debouncer = _collector()
    debouncer.add(["x"])
    debouncer.close(flush=True)
    assert got.get(timeout=1) == frozenset({"x"})
    got2, other = _collector()
    other.add(["y"])
    other.close()
    with pytest.raises(queue.Empty):
        got2.get(timeout=0.5)


def test_bad_intervals_are_refused() -> None:
    with pytest.raises(ValueError):
        Debouncer(lambda _: None, quiet=2, max_latency=1)
