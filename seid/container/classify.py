"""What a file is, from its head and a few samples: enough to pick one codec before
the single pass.

Trying every codec over a whole file costs minutes on a model checkpoint; the kind of a
file is visible in its first bytes (a tensor header, a table's delimiters), and whether
it compresses at all (already-compressed formats, random bytes) in how well three small
samples do. Only the codec chosen then runs over the whole file.
"""

from __future__ import annotations

import ast
import json
import struct
from dataclasses import dataclass
from enum import Enum
from typing import BinaryIO

from seid.container import csvcodec

SAMPLE = 256 << 10
INCOMPRESSIBLE = 0.97  # a sample that shrinks less than 3% is stored as it is

_NPY_MAGIC = b"\x93NUMPY"
# safetensors dtype -> element width
_SAFETENSORS_WIDTH = {
    "F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4,
    "F16": 2, "BF16": 2, "I16": 2, "U16": 2,
}  # fmt: skip


class Kind(Enum):
    TENSOR = "tensor"
    TABLE = "table"
    TEXT = "text"
    BINARY = "binary"


@dataclass(frozen=True)
class Sniffed:
    """The kind of a file and, for tensors, the element width and where elements start."""

    kind: Kind
    width: int = 0
    start: int = 0


def samples(source: BinaryIO, size: int, align: int = 1, start: int = 0) -> list[bytes]:
    """Start, middle and end of ``source`` (the whole file when it is small), each
    beginning on an element boundary when ``align`` is a tensor's element width."""
    if size <= 3 * SAMPLE:
        source.seek(start)
        return [source.read()]
    parts = []
    for offset in (start, size // 2 - SAMPLE // 2, size - SAMPLE):
        offset += (start - offset) % align
        source.seek(offset)
        parts.append(source.read(SAMPLE))
    return parts


def sniff(source: BinaryIO, size: int) -> Sniffed:
    """The kind of the file open as ``source`` (``size`` bytes), from its head alone."""
    source.seek(0)
    head = source.read(64 << 10)
    tensor = _npy(head) or _safetensors(head, size)
    if tensor is not None:
        return tensor
    if b"\x00" not in head:
        if csvcodec.sniff(head) is not None:
            return Sniffed(Kind.TABLE)
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a character cut at the sample's end is fine
                return Sniffed(Kind.BINARY)
        return Sniffed(Kind.TEXT)
    return Sniffed(Kind.BINARY)


def _npy(head: bytes) -> Sniffed | None:
    """A ``.npy`` array: the width of its dtype, elements after the header."""
    if not head.startswith(_NPY_MAGIC) or len(head) < 10:
        return None
    major = head[6]
    if major == 1:
        (length,) = struct.unpack_from("<H", head, 8)
        start = 10 + length
    else:
        if len(head) < 12:
            return None
        (length,) = struct.unpack_from("<I", head, 8)
        start = 12 + length
    if start > len(head):
        return None
    try:
        meta = ast.literal_eval(head[start - length : start].decode("latin-1"))
        descr = meta["descr"]
        width = int(descr[2:]) if isinstance(descr, str) and descr[2:].isdigit() else 0
    except (ValueError, SyntaxError, KeyError, TypeError, MemoryError, RecursionError):
        return None
    return Sniffed(Kind.TENSOR, width, start) if 2 <= width <= 16 else None


def _safetensors(head: bytes, size: int) -> Sniffed | None:
    """A safetensors file: the width of the dtype holding most bytes."""
    if len(head) < 10:
        return None
    (length,) = struct.unpack_from("<Q", head, 0)
    if not 2 <= length <= len(head) - 8 or 8 + length > size or head[8:9] != b"{":
        return None
    try:
        meta = json.loads(head[8 : 8 + length])
    except (ValueError, RecursionError):
        return None
    if not isinstance(meta, dict):
        return None
    by_width: dict[int, int] = {}
    for name, tensor in meta.items():
        if name == "__metadata__" or not isinstance(tensor, dict):
            continue
        width = _SAFETENSORS_WIDTH.get(str(tensor.get("dtype")), 1)
        offsets = tensor.get("data_offsets")
        if (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) for o in offsets)
        ):
            by_width[width] = by_width.get(width, 0) + offsets[1] - offsets[0]
    if not by_width:
        return None
    width = max(by_width, key=lambda w: by_width[w])
    return Sniffed(Kind.TENSOR, width, 8 + length) if width >= 2 else None
