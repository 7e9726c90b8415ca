"""A plain argv command (no shell) that writes the metrics file: one entry, no graph."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

from seid.reproducers.base import Plan, WholeEntryReproducer
from seid.reproducers.execute import run_logged
from seid.reproducers.result import RunResult, file_subjects, from_outcome, tool_env
from seid.snapshot import Snapshot


class CommandReproducer(WholeEntryReproducer):
    """The whole command is stale when any treatment or data input changed."""

    name: ClassVar[str] = "command"

    @property
    def entry(self) -> str:
        return " ".join(self.pipeline.command or []) or "command"

    def reproduce(
        self,
        plan: Plan,
        snapshot: Snapshot,
        log: Path,
        *,
        echo: bool | None = None,
        stop: threading.Event | None = None,
    ) -> RunResult:
        """Run the argv as written (never through a shell) and read its metrics file."""
        argv = self.pipeline.command or []
        outcome = run_logged(
            argv, self.root, log, env=tool_env(snapshot.pins), echo=echo, stop=stop
        )
        return from_outcome(
            self.root,
            self.name,
            None,
            outcome,
            self.pipeline.metrics,
            stages_run=(self.entry,),
            artifacts=file_subjects(self.root, [self.pipeline.metrics]),
        )

    def promote(self, result: RunResult) -> str | None:
        return None
