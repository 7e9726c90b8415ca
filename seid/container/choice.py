"""Which codec a file gets, and at what level: chosen on samples, before the one pass.

Two levels a team chooses between (``SEID_ARTIFACT_LEVEL`` or ``?level=`` on a
``seid://`` URI):

- ``balanced`` (the default): the codec the file's kind calls for, at a fast level.
  Tensors get the byte-plane shuffle and zstd 1 (on byte planes it finds more than
  zstd 3 does, in a third of the time), tables the column transform and xz 6,
  other compressible data zstd 3 (on every core), and data that does not compress
  (already compressed formats, random bytes: a 3% gain on samples is the bar) is stored
  at copy speed.
- ``max``, for archives: every codec is tried on files up to the in-memory threshold and
  the smallest payload wins (never larger than ``xz -9e``); larger files stream through
  the sampled codec at its strongest setting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO, Literal, get_args

from seid.container import shuffle
from seid.container.classify import INCOMPRESSIBLE, Kind, samples, sniff
from seid.container.codecs import Codec, zstd_available
from seid.errors import SeidError

Level = Literal["balanced", "max"]
LEVELS: tuple[Level, ...] = get_args(Level)
LEVEL_ENV = "SEID_ARTIFACT_LEVEL"
COLUMNS_LIMIT = 24 << 20  # the column transform holds a table twice in memory
_TRY_WIDTHS = (2, 4, 8)


@dataclass(frozen=True)
class Choice:
    """A codec and its parameters; ``level`` None is the codec's archive setting."""

    codec: Codec
    level: int | None = None
    width: int = 0
    start: int = 0


def level_from_env(default: Level = "balanced") -> Level:
    """The level in ``SEID_ARTIFACT_LEVEL``, refusing anything but the known names."""
    return parse_level(os.environ.get(LEVEL_ENV) or default, LEVEL_ENV)


def parse_level(text: str, where: str) -> Level:
    for level in LEVELS:
        if text == level:
            return level
    raise SeidError(f"{where}: artifact level {text!r} is not one of {', '.join(LEVELS)}")


def choose(source: BinaryIO, size: int, level: Level) -> Choice:
    """The codec for the ``size``-byte file open as ``source``, from its head and samples."""
    sniffed = sniff(source, size)
    if size == 0:
        return Choice(Codec.STORED)
    zstd = _Zstd() if zstd_available() else None
    parts = samples(source, size)
    plain = zstd.size(parts) if zstd else None
    width, start = sniffed.width, sniffed.start
    if zstd is not None and plain is not None:
        if sniffed.kind is Kind.BINARY:
            width = _best_width(zstd, parts, plain)
        if width:
            aligned = samples(source, size, width, start)
            shuffled = zstd.size([shuffle.sample_planes(p, width) for p in aligned])
            if shuffled < min(plain, sum(map(len, parts)) * INCOMPRESSIBLE):
                return Choice(Codec.SHUFFLE_ZSTD, _fast(level, 1), width, start)
        if plain >= sum(map(len, parts)) * INCOMPRESSIBLE:
            return Choice(Codec.STORED)
    if sniffed.kind is Kind.TABLE:
        columns = size <= COLUMNS_LIMIT
        return Choice(Codec.COLUMNS_XZ if columns else Codec.XZ, _fast(level, 6))
    if zstd is None or (sniffed.kind is Kind.TEXT and level == "max"):
        return Choice(Codec.XZ, _fast(level, 6))
    return Choice(Codec.ZSTD, _fast(level, 3))


def _fast(level: Level, fast: int) -> int | None:
    return fast if level == "balanced" else None


def _best_width(zstd: _Zstd, parts: list[bytes], plain: int) -> int:
    """The element width whose planes compress best, or 0 if none beats the bytes as
    they are (an unknown binary: a pickle or a raw ``.bin`` of weights, say)."""
    best, best_size = 0, plain * INCOMPRESSIBLE
    for width in _TRY_WIDTHS:
        compressed = zstd.size([shuffle.sample_planes(p, width) for p in parts])
        if compressed < best_size:
            best, best_size = width, compressed
    return best


class _Zstd:
    """zstd 3 on samples: what the fast level will find in the whole file."""

    def __init__(self) -> None:
        import zstandard

        self._compressor = zstandard.ZstdCompressor(level=3)

    def size(self, parts: list[bytes]) -> int:
        return sum(len(self._compressor.compress(p)) for p in parts)
