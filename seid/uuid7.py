"""UUID version 7 (RFC 9562, section 5.7), which Python 3.11's ``uuid`` cannot make.

A PRML ``claim_id`` must be a UUIDv7: 48 bits of Unix time in milliseconds, then the
version (7), 12 bits of ``rand_a``, the variant (``10``) and 62 random bits. Ids made in
the same millisecond by this process stay in order: ``rand_a`` is then a counter that
continues from the previous id (RFC 9562 section 6.2, method 1), and when it runs out
the timestamp moves on by one millisecond rather than repeat or go back.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid

_RAND_A_MAX = (1 << 12) - 1
_lock = threading.Lock()
_last = (0, 0)  # (unix_ms, rand_a) of the previous id


def uuid7(unix_ms: int | None = None) -> uuid.UUID:
    """A fresh UUIDv7, later than every one this process made before."""
    global _last
    now = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    with _lock:
        last_ms, last_a = _last
        if now > last_ms:
            ms, rand_a = now, secrets.randbits(11)  # leave room to count up within the ms
        elif last_a < _RAND_A_MAX:
            ms, rand_a = last_ms, last_a + 1
        else:
            ms, rand_a = last_ms + 1, 0
        _last = (ms, rand_a)
    if ms >= 1 << 48:
        raise ValueError(f"unix time {ms} ms does not fit UUIDv7's 48 bits")
    value = ms << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | secrets.randbits(62)
    return uuid.UUID(int=value)
