"""Ask an MLflow registry which versions hold an alias: the sidecar's child process.

``python -m seid.daemon.registry_query TRACKING_URI ALIAS`` prints a JSON list of
``{"model", "version", "run_id", "source"}`` and exits 0, or prints one line on stderr
and exits 1. The audit runs in its own process so that MLflow's HTTP retry settings
(short ones, given by the daemon) apply to it alone, never to a pipeline's uploads, and
so that a registry that hangs can be abandoned: the process is killed at the audit's
deadline, and it dies with the daemon (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from typing import Any


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        sys.exit(1)


def _all_models(client: Any) -> Iterator[Any]:
    token = None
    while True:
        page = client.search_registered_models(max_results=100, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def query(tracking_uri: str, alias: str) -> list[dict[str, str | None]]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    found = []
    for model in _all_models(client):
        version = (model.aliases or {}).get(alias)
        if version is None:
            continue
        info = client.get_model_version(model.name, str(version))
        found.append(
            {"model": model.name, "version": str(version), "run_id": info.run_id,
             "source": info.source}
        )  # fmt: skip
    return found


def main(argv: list[str]) -> int:
    tracking_uri, alias, parent = argv
    _die_with_parent(int(parent))
    try:
        from mlflow.exceptions import MlflowException
    except ImportError as err:
        print(f"sidecar mode needs mlflow: {err}", file=sys.stderr)
        return 1
    try:
        found = query(tracking_uri, alias)
    except MlflowException as err:
        print(" ".join(str(err.message).split())[:500], file=sys.stderr)
        return 1
    json.dump(found, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
