"""A ledger writer process for the concurrency and crash tests.

``python -m tests.ledger.writer REPO KEY TAG START COUNT`` appends COUNT entries whose
statements carry ``{"tag": TAG, "run": START + i}`` and prints ``<run> <index>`` after
each append has returned (that is, once it is acknowledged).
"""

from __future__ import annotations

import sys
from pathlib import Path

from securesystemslib.signer import Signer

from seid import evidence, keys
from seid.ledger.log import Ledger


def entry(signer: Signer, tag: str, run: int) -> bytes:
    statement = evidence.statement(
        [evidence.Subject(f"out/{tag}-{run}.bin", f"{run:064x}")],
        evidence.EVIDENCE_PREDICATE,
        {"tag": tag, "run": run},
    )
    return evidence.sign(statement, signer)


def main() -> None:
    repo, key, tag, start, count = sys.argv[1:6]
    signer = keys.load_signer(Path(key))
    with Ledger.open(Path(repo), signer.public_key.keyid, create=True) as ledger:
        for notice in ledger.notices:
            print(f"notice {notice}", flush=True)
        for run in range(int(start), int(start) + int(count)):
            index, _ = ledger.append(entry(signer, tag, run), signer)
            print(f"{run} {index}", flush=True)


if __name__ == "__main__":
    main()
