"""Materialise named Dagster assets: the process seid's Dagster adapter starts.

``python -m seid.reproducers.dagster_run DEFINITIONS RESULT [ASSET...]``, run in the repo
root with ``DAGSTER_HOME`` set. It goes through Dagster's Python API rather than
``dagster asset materialize --select``, whose selection parser needs an antlr4 runtime
this lock cannot hold. The definitions are loaded by the loader planning uses, so both
see the same asset graph; exactly the named assets (and their asset checks) are
materialised into the instance at ``DAGSTER_HOME``; and what Dagster itself recorded is
written to RESULT as JSON, which the adapter reads instead of parsing the log.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from seid.errors import SeidError
from seid.fsutil import write_atomic
from seid.reproducers.dagster import load_definitions

# The tag Dagster puts on a materialisation: the code_version it ran with.
CODE_VERSION_TAG = "dagster/code_version"


def materialise(root: Path, definitions: Path, names: Sequence[str]) -> dict[str, Any]:
    """Materialise ``names`` (asset key strings) and report what Dagster recorded.

    The report: ``success``, ``error`` (one line, or None), ``run_id``, ``assets`` (every
    materialisable asset's declared code_version), ``materialized`` (key, code_version
    and plain metadata, in run order) and ``checks`` (check key, asset, passed).
    """
    graph = load_definitions(root, root / definitions)
    declared = {
        key.to_user_string(): graph.get(key).code_version
        for key in graph.toposorted_asset_keys
        if key in graph.materializable_asset_keys
    }
    unknown = sorted(set(names) - set(declared))
    if unknown:
        raise SeidError(f"{definitions}: no materialisable asset {', '.join(unknown)}")
    report: dict[str, Any] = {
        "success": True,
        "error": None,
        "run_id": None,
        "assets": declared,
        "materialized": [],
        "checks": [],
    }
    if not names:
        return report
    result = dg.materialize(
        list(graph.assets_defs),
        selection=dg.AssetSelection.assets(*(dg.AssetKey.from_user_string(n) for n in names)),
        instance=dg.DagsterInstance.get(),
        raise_on_error=False,
    )
    materialized = []
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        key = mat.asset_key.to_user_string()
        version = mat.tags.get(CODE_VERSION_TAG) if mat.tags else None
        materialized.append(
            {
                "key": key,
                "code_version": version or declared.get(key),
                "metadata": plain_metadata(mat.metadata),
            }
        )
    report.update(
        success=result.success,
        error=None if result.success else failure(result.all_events),
        run_id=result.run_id,
        materialized=materialized,
        checks=[
            {
                "name": dg.AssetCheckKey(check.asset_key, check.check_name).to_user_string(),
                "asset": check.asset_key.to_user_string(),
                "passed": check.passed,
            }
            for check in result.get_asset_check_evaluations()
        ],
    )
    return report


def plain_metadata(metadata: Mapping[str, Any]) -> dict[str, str | int | float]:
    """The entries whose value is a string or a number (paths are strings); no others.

    Tables, markdown and the like say nothing seid records, and booleans are no metric.
    """
    out: dict[str, str | int | float] = {}
    for key, entry in metadata.items():
        value = getattr(entry, "value", entry)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            out[key] = value
    return out


def failure(events: Sequence[Any]) -> str:
    """Why the run failed, in one line: the first failed step and its innermost cause."""
    for event in events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error is not None and error.cause is not None:
                error = error.cause
            message = _first_line(error.message) if error is not None else "failed"
            return f"asset step {event.step_key} failed: {message}"
    runs = [e.message for e in events if e.is_run_failure and e.message]
    return runs[0] if runs else "the Dagster run failed"


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seid.reproducers.dagster_run")
    parser.add_argument("definitions", type=Path, help="the Definitions file, repo-relative")
    parser.add_argument("result", type=Path, help="where to write the JSON report")
    parser.add_argument("assets", nargs="*", help="asset keys to materialise")
    args = parser.parse_args(argv)
    try:
        report = materialise(Path.cwd(), args.definitions, args.assets)
    except SeidError as exc:
        report = {"success": False, "error": str(exc)}
    except dg.DagsterError as exc:  # definitions Dagster refuses to run: the user's to fix
        traceback.print_exc()
        report = {"success": False, "error": f"{type(exc).__name__}: {_first_line(str(exc))}"}
    write_atomic(args.result, json.dumps(report, sort_keys=True).encode())
    if not report["success"]:
        print(f"seid: {report['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
