"""The loan scenario's applications as a Delta table: the writer of the `--data delta` story.

``--create`` writes ``data/credit.csv``'s first applications into ``data/applications``
in two commits (v0, v1), holding the last fifth back; ``--optimize`` compacts the table
(a commit that changes no row); ``--append`` appends the held-back applications. Every
row carries its ``application_id``, so a reader can put them in a fixed order whatever
files a compaction made.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

SOURCE = Path("data/credit.csv")
TABLE = "data/applications"
HELD_BACK = 0.2  # the fraction of applications that arrive later


def _applications() -> pd.DataFrame:
    frame = pd.read_csv(SOURCE)
    frame.insert(0, "application_id", range(len(frame)))
    return frame


def _write(frame: pd.DataFrame, mode: str) -> None:
    write_deltalake(TABLE, pa.Table.from_pandas(frame, preserve_index=False), mode=mode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--create", action="store_true")
    action.add_argument("--optimize", action="store_true")
    action.add_argument("--append", action="store_true")
    args = parser.parse_args()
    frame = _applications()
    first = int(len(frame) * (1 - HELD_BACK))
    if args.create:
        _write(frame.iloc[: first // 2], "error")
        _write(frame.iloc[first // 2 : first], "append")
    elif args.optimize:
        DeltaTable(TABLE).optimize.compact()
    else:
        _write(frame.iloc[first:], "append")
    os._exit(0)  # no interpreter teardown after delta-rs (delta-rs issue 2184)


if __name__ == "__main__":
    main()
