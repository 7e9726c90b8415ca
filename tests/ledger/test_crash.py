"""Crash safety: a writer process is SIGKILLed at random points during 1,000 appends.

Acknowledged means the writer's ``append`` returned (it then reports the index on a
pipe). After every kill the ledger is reopened (recovery) and must:

- verify completely (signatures, tree, every checkpoint);
- hold every acknowledged entry, byte for byte, at its index;
- hold at most ONE entry past the last one known, acknowledged or found at the previous
  reopen: the append the kill interrupted after its record was durable but before the
  writer could report it (an entry recovered that way is then part of the log, and the
  next writer continues after it); that entry must be the very one being written.

Writers are forked children (real processes, killed with SIGKILL) so a restart costs
milliseconds instead of a fresh interpreter.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import random
import select
import signal
import time
from pathlib import Path

import pytest
from securesystemslib.signer import Signer

from seid.ledger.log import Ledger
from seid.ledger.verify import verify_stream
from tests.ledger.conftest import entry_maker, make_key

TOTAL = 1000
MIN_KILLS = 50


def writer(repo: Path, signer: Signer, pipe: int) -> None:
    """Append entry ``i`` (content fixed by ``i``) forever, reporting each acknowledgement."""
    make = entry_maker(signer)
    with Ledger.open(repo, signer.public_key.keyid, create=True) as ledger:
        while True:
            i = ledger.size
            index, _ = ledger.append(make(i), signer)
            os.write(pipe, f"{index}\n".encode())


def acks_until_killed(repo: Path, signer: Signer, rng: random.Random, wanted: int) -> list[int]:
    """Run a writer, SIGKILL it after ``wanted`` acks plus a random few milliseconds."""
    read_end, write_end = os.pipe()
    child = multiprocessing.get_context("fork").Process(
        target=writer, args=(repo, signer, write_end), daemon=True
    )
    child.start()
    os.close(write_end)
    acked: list[int] = []
    buffer = b""
    deadline = time.monotonic() + 60
    while len(acked) < wanted and time.monotonic() < deadline:
        ready, _, _ = select.select([read_end], [], [], 1)
        if ready:
            chunk = os.read(read_end, 4096)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            acked.extend(int(line) for line in lines)
    time.sleep(rng.uniform(0, 0.006))  # land anywhere inside the next append
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    # acks written before the kill are acknowledged too: drain the pipe
    while chunk := os.read(read_end, 4096):
        buffer += chunk
    os.close(read_end)
    acked.extend(int(line) for line in buffer.split(b"\n") if line)
    return acked


@pytest.mark.slow
def test_sigkill_at_random_points(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    signer = make_key(tmp_path, repo)
    make = entry_maker(signer)
    cache: dict[int, bytes] = {}

    def expected(i: int) -> bytes:
        if i not in cache:
            cache[i] = make(i)
        return cache[i]

    rng = random.Random(20261123)
    acknowledged: set[int] = set()
    kills = recoveries = 0
    size = 0
    while size < TOTAL or kills < MIN_KILLS:
        acked = acks_until_killed(repo, signer, rng, rng.randint(0, 30))
        kills += 1
        acknowledged.update(acked)
        known = max(max(acknowledged, default=-1), size - 1)  # size: the previous reopen
        with Ledger.open(repo, signer.public_key.keyid, create=True) as ledger:
            recoveries += bool(ledger.notices)
            size = ledger.size
            assert max(acknowledged, default=-1) + 1 <= size <= known + 2, (size, known)
            for i in range(size):
                assert ledger.entry(i) == expected(i), f"entry {i} is not the one written"
            report = verify_stream(
                io.BytesIO((ledger.path / "log").read_bytes()),
                ledger.log_id,
                signer.public_key,
                "crash",
                expected_size=size,
            )
            assert report.ok, report.problems[:3]
            assert report.root == ledger.root()
    assert kills >= MIN_KILLS and size >= TOTAL
    print(f"{kills} kills, {recoveries} recoveries, {size} entries")
