"""The MLflow run context provider (entry point ``mlflow.run_context_provider: seid``).

Runs started inside a seid project are tagged with their PRML claim and project state;
what the tags are and where they come from is in :mod:`seid.mlflow_plugin.tags`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mlflow.tracking.context.abstract_context import RunContextProvider

from seid.mlflow_plugin.tags import (
    RUN_TAGS,
    context_tags,
    experiment_scope,
    find_project,
    tag_active_experiment,
)

log = logging.getLogger(__name__)


class SeidRunContextProvider(RunContextProvider):
    """Adds claim and seid tags to runs started inside a seid project."""

    def in_context(self) -> bool:
        try:
            return find_project(Path.cwd()) is not None
        except Exception as exc:  # a context provider must never break a run
            log.warning("seid: cannot look for a claim here: %s", exc)
            return False

    def tags(self) -> dict[str, str]:
        try:
            project = find_project(Path.cwd())
            if project is None:
                return {}
            tags = context_tags(project)
        except Exception as exc:
            log.warning("seid: run tags skipped: %s", exc)
            return {}
        if not experiment_scope():
            return tags
        try:
            tag_active_experiment(project)
        except Exception as exc:  # the run's own tags still go on
            log.warning("seid: experiment tags skipped: %s", exc)
        return {k: v for k, v in tags.items() if k in RUN_TAGS or k.startswith("seid.")}
