"""Length- and checksum-framed records: the on-disk form of entries and checkpoints.

Each record is ``u32 length || u32 crc32(data) || data`` (big-endian). The checksum is
not security (signatures and the Merkle tree are): it tells a torn write after a crash
from a whole record, so recovery can cut exactly the torn tail.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

HEADER = struct.Struct(">II")
MAX_RECORD = 64 << 20


class RecordError(Exception):
    """A record that is torn (cut short) or corrupt (bad length or checksum)."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{reason} at byte {offset}")
        self.offset = offset
        self.reason = reason


def encode(data: bytes) -> bytes:
    if len(data) > MAX_RECORD:
        raise ValueError(f"record of {len(data)} bytes is larger than {MAX_RECORD}")
    return HEADER.pack(len(data), zlib.crc32(data)) + data


def read_one(stream: BinaryIO, offset: int) -> bytes | None:
    """The record at the stream's position (``offset`` for messages); None at clean EOF."""
    header = stream.read(HEADER.size)
    if not header:
        return None
    if len(header) < HEADER.size:
        raise RecordError(offset, "torn record header")
    length, crc = HEADER.unpack(header)
    if length > MAX_RECORD:
        raise RecordError(offset, "corrupt record length")
    data = stream.read(length)
    if len(data) < length:
        raise RecordError(offset, "torn record")
    if zlib.crc32(data) != crc:
        raise RecordError(offset, "record checksum mismatch")
    return data


def iterate(stream: BinaryIO, offset: int = 0, limit: int | None = None) -> Iterator[bytes]:
    """Stream records from ``stream`` (positioned at ``offset``) until EOF or ``limit``."""
    count = 0
    while limit is None or count < limit:
        data = read_one(stream, offset)
        if data is None:
            return
        yield data
        offset += HEADER.size + len(data)
        count += 1


_ENTRY_LEN = struct.Struct(">I")


def pack_pair(entry: bytes, note: bytes) -> bytes:
    """One append as one record: the entry and the checkpoint that covers it, so a
    single fsync makes both durable together."""
    return encode(_ENTRY_LEN.pack(len(entry)) + entry + note)


def unpack_pair(data: bytes, offset: int) -> tuple[bytes, bytes]:
    """Split a record into ``(entry, checkpoint note)``."""
    if len(data) < _ENTRY_LEN.size:
        raise RecordError(offset, "record too short")
    (length,) = _ENTRY_LEN.unpack_from(data)
    end = _ENTRY_LEN.size + length
    if end > len(data):
        raise RecordError(offset, "entry length beyond record")
    return data[_ENTRY_LEN.size : end], data[end:]


def iterate_pairs(stream: BinaryIO, limit: int | None = None) -> Iterator[tuple[bytes, bytes]]:
    """Stream ``(entry, checkpoint note)`` from the start of a log file."""
    offset = 0
    for data in iterate(stream, 0, limit):
        yield unpack_pair(data, offset)
        offset += HEADER.size + len(data)


@dataclass(frozen=True)
class Head:
    """How far a log's derived files reach: entry count and byte length of ``log``."""

    size: int = 0
    length: int = 0


_HEAD = struct.Struct(">QQ")
HEAD_SLOT = _HEAD.size + 4


def pack_head(head: Head) -> bytes:
    """One checksummed head slot (the ``head`` file holds two, written alternately)."""
    packed = _HEAD.pack(head.size, head.length)
    return packed + struct.pack(">I", zlib.crc32(packed))


def unpack_head(raw: bytes) -> Head | None:
    """The newest whole slot of a ``head`` file, or None if neither is whole."""
    slots = []
    for start in (0, HEAD_SLOT):
        chunk = raw[start : start + HEAD_SLOT]
        if len(chunk) == HEAD_SLOT and zlib.crc32(chunk[:-4]) == struct.unpack(">I", chunk[-4:])[0]:
            slots.append(Head(*_HEAD.unpack(chunk[:-4])))
    return max(slots, key=lambda head: head.size) if slots else None
