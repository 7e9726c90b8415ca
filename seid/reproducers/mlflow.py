"""MLflow: the project's entry script or MLproject entry point is one unit of work.

MLflow has no stage graph and no notion of a stale run, so the whole entry is stale when
any treatment or data input changed. Planning never imports mlflow.
"""

from __future__ import annotations

from typing import ClassVar

from seid.reproducers.base import WholeEntryReproducer


class MlflowReproducer(WholeEntryReproducer):
    """The MLflow entry is stale when any B or C input changed."""

    name: ClassVar[str] = "mlflow"
    dist: ClassVar[str | None] = "mlflow"

    @property
    def entry(self) -> str:
        return self.pipeline.entry or "main"
