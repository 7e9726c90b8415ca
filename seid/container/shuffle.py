"""The byte-plane shuffle that runs ahead of zstd for tensors (codec ``04``).

A float32 weight is four bytes: sign and exponent, then mantissa bytes that look random.
Stored element after element, the predictable exponent bytes are four bytes apart and a
general-purpose coder sees noise. Gathered into planes (byte 0 of every element, then
byte 1, ...), the exponent plane compresses well and the rest are left to the entropy
stage. The transform is a permutation inside each block, so it is lossless by
construction and streams in bounded memory.

Layout of the codec ``04`` payload (integers unsigned big-endian)::

    width   u8    element width w, 2..16 bytes
    start   u64   bytes before the first shuffled block (a .npy or safetensors header)
    block   u32   block size B in bytes, a positive multiple of w
    frames        zstd frame(s) of the transformed bytes

The transformed bytes are: the first ``start`` bytes of the original as they are; then
the rest cut into blocks of B bytes (the last may be shorter), each written as its w
planes (plane k holds byte k of every whole element of the block), followed by the
block's bytes past its last whole element, as they are.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from functools import cache
from types import ModuleType

from seid.errors import VerificationError


@cache
def _numpy() -> ModuleType | None:
    """numpy, imported on the first shuffle (it costs a tenth of a second to import);
    it comes with the mlflow extra, as zstandard does, and the slices do without it."""
    try:
        import numpy
    except ImportError:  # pragma: no cover - exercised where numpy is absent
        return None
    return numpy


PARAMS = struct.Struct(">BQI")
BLOCK = 1 << 20
MAX_WIDTH = 16


def params(width: int, start: int, block: int = BLOCK) -> bytes:
    """The payload's parameter prefix."""
    return PARAMS.pack(width, start, block)


def read_params(raw: bytes, size: int) -> tuple[int, int, int]:
    """``(width, start, block)`` from a payload prefix, refusing values no writer makes."""
    if len(raw) != PARAMS.size:
        raise EOFError
    width, start, block = PARAMS.unpack(raw)
    if not 2 <= width <= MAX_WIDTH or block == 0 or block % width or block > 64 * BLOCK:
        raise VerificationError(f"bad shuffle parameters (width {width}, block {block})")
    if start > size:
        raise VerificationError(f"shuffle start {start} is past the original's {size} bytes")
    return width, start, block


def planes(block: bytes, width: int) -> bytes:
    """One block as its byte planes, then the bytes past its last whole element."""
    whole = len(block) - len(block) % width
    np = _numpy()
    if np is not None:  # a transpose in C: five times the speed of strided slices
        grid = np.frombuffer(block, dtype=np.uint8, count=whole).reshape(-1, width)
        return grid.T.tobytes() + block[whole:]  # type: ignore[no-any-return]
    return sample_planes(block, width)


def sample_planes(block: bytes, width: int) -> bytes:
    """:func:`planes` by strided slices: as fast as numpy on the samples a codec is
    chosen on, and it leaves numpy unimported for a file that is never shuffled."""
    whole = len(block) - len(block) % width
    return b"".join(block[k:whole:width] for k in range(width)) + block[whole:]


def unplanes(block: bytes, width: int) -> bytes:
    """The inverse of :func:`planes`."""
    whole = len(block) - len(block) % width
    count = whole // width
    np = _numpy()
    if np is not None:
        grid = np.frombuffer(block, dtype=np.uint8, count=whole).reshape(width, count)
        return grid.T.tobytes() + block[whole:]  # type: ignore[no-any-return]
    out = bytearray(len(block))
    for k in range(width):
        out[k:whole:width] = block[k * count : (k + 1) * count]
    out[whole:] = block[whole:]
    return bytes(out)


def restore(transformed: Iterator[bytes], width: int, start: int, block: int) -> Iterator[bytes]:
    """The original bytes from the transformed stream, given as chunks of any size."""
    buffer = bytearray()
    pending = start  # raw header bytes still to pass through
    for chunk in transformed:
        buffer += chunk
        if pending:
            take = min(pending, len(buffer))
            yield bytes(buffer[:take])
            del buffer[:take]
            pending -= take
        while not pending and len(buffer) >= block:
            yield unplanes(bytes(buffer[:block]), width)
            del buffer[:block]
    if pending:
        raise EOFError
    if buffer:
        yield unplanes(bytes(buffer), width)
