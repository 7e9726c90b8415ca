"""One log pipeline for the daemon and the libraries it drives.

JSON lines on stdout when stdout is not a terminal (journald and container runtimes
collect them), a readable console on a terminal. The stdlib loggers of watchdog and
APScheduler go through the same formatter, so every line, theirs too,
carries the ``repo`` and ``run`` bound in the thread that logged it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
LIBRARIES = ("watchdog", "apscheduler")


def setup(
    stream: TextIO | None = None, *, json: bool | None = None, level: int = logging.INFO
) -> None:
    """Route structlog and the stdlib through one handler on ``stream`` (default stdout)."""
    out = stream or sys.stdout
    as_json = not out.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in LIBRARIES:
        # Their debug chatter (every inotify event) would drown the daemon's own lines.
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get(name: str = "seid.daemon") -> Any:
    """A structlog logger; ``repo``/``run`` come from the calling thread's context."""
    return structlog.stdlib.get_logger(name)


def bind(**values: Any) -> None:
    """Bind values (``repo``, ``run``) to every line this thread logs from now on."""
    structlog.contextvars.bind_contextvars(**values)


def unbind(*keys: str) -> None:
    structlog.contextvars.unbind_contextvars(*keys)
