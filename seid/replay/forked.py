"""A function run in a forked child process, its outcome read back through a pipe.

``seid reconstruct`` verifies the ledger on one core while it walks the history on the
other; the child inherits every module already loaded, so it starts at once.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from seid.errors import SeidError


def _outcome(fn: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
    """``fn(*args)``, or a SeidError's message and exit status (an exception object may
    not survive pickling; its one line does)."""
    try:
        return True, fn(*args)
    except SeidError as err:
        return False, (str(err), err.exit_code)


class Forked:
    """``fn(*args)`` in a forked child process, on the other core while this one works.

    The child inherits every module loaded so far; fork before starting any thread here
    (a fork copies only the forking thread). Ctrl-C is the parent's: the child ignores
    it and is killed when the parent leaves early. The outcome comes back pickled
    through a pipe; a child that dies, or hits a bug (its traceback on stderr), is an
    error here, never a hang.
    """

    def __init__(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        self.what = what
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            _child(write, fn, args)
        os.close(write)
        self._pid: int | None = pid
        self._read: int | None = read

    def result(self) -> Any:
        assert self._read is not None and self._pid is not None
        with os.fdopen(self._read, "rb") as stream:
            self._read = None
            data = stream.read()
        os.waitpid(self._pid, 0)
        self._pid = None
        if not data:
            raise SeidError(f"{self.what} stopped unexpectedly (its process died)")
        ok, value = pickle.loads(data)  # noqa: S301 (our own child, over a private pipe)
        if ok:
            return value
        err = SeidError(value[0])
        err.exit_code = value[1]
        raise err

    def __enter__(self) -> Forked:
        return self

    def __exit__(self, *_: object) -> None:
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
        if self._read is not None:
            os.close(self._read)


def _child(write: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> NoReturn:
    """The forked side of :class:`Forked`: never returns into the parent's code."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code = 1
    try:
        data = pickle.dumps(_outcome(fn, *args), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write, "wb") as out:
            out.write(data)
        code = 0
    except Exception:
        traceback.print_exc()  # a bug: say where, the parent reports the death
    finally:
        os._exit(code)
