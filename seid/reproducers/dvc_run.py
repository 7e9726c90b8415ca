"""Reproduce a DVC pipeline through DVC's Python API: the process seid's DVC adapter starts.

``python -m seid.reproducers.dvc_run RESULT``, run in the repo root. It does what
``dvc repro`` does, with DVC's logger set up as its CLI sets it up (so the log reads the
same, errors included), and writes to RESULT what DVC itself returned: the stages
``Repo.reproduce()`` reproduced, and the pipeline's other stages, which it found
current. The adapter reads that report instead of matching DVC's console messages,
whose wording is not an interface.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from seid.fsutil import write_atomic


def reproduce(root: Path) -> dict[str, Any]:
    """Run ``Repo.reproduce()``; ``ran`` and ``skipped`` name stages as seid plans them."""
    from dvc.repo import Repo
    from dvc.stage import PipelineStage

    from seid.reproducers.dvc import stage_name

    with Repo(str(root)) as repo:
        ran = [s for s in repo.reproduce() if isinstance(s, PipelineStage)]
        pipeline = [s for s in repo.index.stages if isinstance(s, PipelineStage)]
    done = {stage_name(s, root) for s in ran}
    return {
        "ran": [stage_name(s, root) for s in ran],
        "skipped": [n for n in (stage_name(s, root) for s in pipeline) if n not in done],
        "error": None,
    }


def main(argv: list[str]) -> int:
    (result,) = argv
    # Importing dvc sets its logger up as its CLI does; a second setup() would print
    # every line, the ERROR included, twice.
    from dvc.exceptions import DvcException

    try:
        report = reproduce(Path.cwd())
        code = 0
    except DvcException as exc:
        logging.getLogger("dvc").exception("")  # "ERROR: failed to reproduce ...", as dvc's
        reasons = [str(exc), *([str(exc.__cause__)] if exc.__cause__ is not None else [])]
        report, code = {"ran": [], "skipped": [], "error": ": ".join(reasons)}, 1
    write_atomic(Path(result), json.dumps(report, sort_keys=True).encode())
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
