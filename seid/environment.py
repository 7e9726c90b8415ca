"""Where a run happened: interpreter, platform, installed packages and host.

The packages digest lets an auditor tell whether two runs stood on the same software
without shipping the whole package list in every bundle: it is the SHA-256 of the sorted
``name==version`` lines of every distribution importable by this interpreter.
"""

from __future__ import annotations

import hashlib
import platform
import socket
import sys
from functools import cache
from importlib import metadata
from typing import Any


@cache
def packages_digest() -> str:
    """SHA-256 hex of the sorted ``name==version`` lines of the installed distributions."""
    lines = sorted(
        {
            f"{(dist.metadata['Name'] or '').lower()}=={dist.version}"
            for dist in metadata.distributions()
        }
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def environment() -> dict[str, Any]:
    """The bundle's ``environment`` field."""
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": platform.platform(),
        "packages_digest": packages_digest(),
    }


def host() -> str:
    """The host name recorded in a bundle (the machine, not a user)."""
    return socket.gethostname()
