"""A plain argv command (no shell) that writes the metrics file: one entry, no graph."""

from __future__ import annotations

from typing import ClassVar

from seid.reproducers.base import WholeEntryReproducer


class CommandReproducer(WholeEntryReproducer):
    """The whole command is stale when any treatment or data input changed."""

    name: ClassVar[str] = "command"

    @property
    def entry(self) -> str:
        return " ".join(self.pipeline.command or []) or "command"
