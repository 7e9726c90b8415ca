"""The payload codecs: whole-buffer encoders for trials, streaming ones for large files,
and decoders that never hold more than one chunk of output (except the column codec,
which is only used for originals up to the streaming threshold).

zstandard comes with the ``mlflow`` extra; without it the zstd codec is simply not
tried when packing, and unpacking a zstd container names the missing package.
"""

from __future__ import annotations

import lzma
from collections.abc import Iterator
from enum import IntEnum
from types import ModuleType
from typing import BinaryIO, Protocol

from seid.container import csvcodec, shuffle
from seid.errors import ToolMissingError, VerificationError

CHUNK = 1 << 20
XZ_PRESET = 9 | lzma.PRESET_EXTREME
XZ_DICT = 64 << 20  # preset 9's dictionary
XZ_MIN_DICT = 4096
XZ_STREAM_DICT = 8 << 20  # preset 9e needs ~674 MiB with its 64 MiB dictionary
ZSTD_LEVEL = 19
ZSTD_WINDOW_LOG = 27  # zstd --long: decoders accept up to 2^27 by default
ZSTD_STREAM_WINDOW_LOG = 24


class Codec(IntEnum):
    """Codec ids as stored in byte 9 of the header."""

    STORED = 0
    XZ = 1
    ZSTD = 2
    COLUMNS_XZ = 3
    SHUFFLE_ZSTD = 4


class Encoder(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self) -> bytes: ...


def _zstd() -> ModuleType | None:
    try:
        import zstandard
    except ImportError:
        return None
    return zstandard


def xz_compress(data: bytes, preset: int | None = None) -> bytes:
    """Raw LZMA2 (the data of an .xz block, no framing) at preset 9 extreme.

    This is the very LZMA2 stream ``xz -9e`` writes, without the ~60 bytes of .xz
    stream header, block header, check, index and footer: that is what keeps a container,
    its own 50-byte header included, below the size of ``xz -9e`` output. The
    dictionary shrinks to the input (as the xz tool does): a larger one cannot find
    more matches, but costs time and memory to set up.
    """
    dict_size = xz_dict_size(len(data))
    filters = [
        {
            "id": lzma.FILTER_LZMA2,
            "preset": XZ_PRESET if preset is None else preset,
            "dict_size": dict_size,
        }
    ]
    return lzma.compress(data, format=lzma.FORMAT_RAW, filters=filters)


def xz_dict_size(size: int) -> int:
    """A dictionary large enough for any LZMA2 stream of a ``size``-byte original:
    matches never reach back further than the data itself, and encoders use <= 64 MiB."""
    return min(XZ_DICT, max(XZ_MIN_DICT, 1 << (size - 1).bit_length()))


def zstd_compress(data: bytes) -> bytes | None:
    """One zstd frame at level 19 with the long window, or None without zstandard."""
    zstandard = _zstd()
    if zstandard is None:
        return None
    params = zstandard.ZstdCompressionParameters.from_level(
        ZSTD_LEVEL, source_size=len(data), window_log=ZSTD_WINDOW_LOG, enable_ldm=True
    )
    compressed: bytes = zstandard.ZstdCompressor(compression_params=params).compress(data)
    return compressed


def columns_compress(data: bytes, preset: int | None = None) -> bytes | None:
    """xz over the column transform, or None when ``data`` is not a regular table."""
    delim = csvcodec.sniff(data)
    encoded = None if delim is None else csvcodec.encode(data, delim)
    if encoded is None or len(encoded) > csvcodec.max_encoded_size(len(data)):
        return None
    return xz_compress(encoded, preset)


def stream_encoder(codec: Codec, size: int, level: int | None = None) -> Encoder | None:
    """A bounded-memory encoder for large files (smaller windows than the trials use).

    ``level`` is the xz preset or the zstd level; None is the archive setting (xz 9e,
    zstd 19 with long-distance matching). zstd runs on every core: its frames are the
    same whatever the thread count.
    """
    if codec is Codec.XZ:
        preset = XZ_PRESET if level is None else level
        dict_size = min(XZ_STREAM_DICT, xz_dict_size(size))
        filters = [{"id": lzma.FILTER_LZMA2, "preset": preset, "dict_size": dict_size}]
        return lzma.LZMACompressor(lzma.FORMAT_RAW, filters=filters)
    if codec in (Codec.ZSTD, Codec.SHUFFLE_ZSTD):
        zstandard = _zstd()
        if zstandard is None:
            return None
        if level is None:
            params = zstandard.ZstdCompressionParameters.from_level(
                ZSTD_LEVEL, window_log=ZSTD_STREAM_WINDOW_LOG, enable_ldm=True, threads=-1
            )
        else:
            params = zstandard.ZstdCompressionParameters.from_level(
                level, source_size=size, threads=-1
            )
        encoder: Encoder = zstandard.ZstdCompressor(compression_params=params).compressobj(size)
        return encoder
    return None


def zstd_available() -> bool:
    return _zstd() is not None


def decode(codec: Codec, source: BinaryIO, size: int) -> Iterator[bytes]:
    """The original bytes of a payload, chunk by chunk.

    ``size`` is the original size from the header: it bounds what is decoded (the
    caller checks the exact size and the hash). Codec errors become VerificationError.
    """
    try:
        if codec is Codec.STORED:
            yield from iter(lambda: source.read(CHUNK), b"")
        elif codec is Codec.XZ:
            yield from _xz_chunks(source, size)
        elif codec is Codec.ZSTD:
            yield from _zstd_chunks(source)
        elif codec is Codec.SHUFFLE_ZSTD:
            width, start, block = shuffle.read_params(source.read(shuffle.PARAMS.size), size)
            yield from shuffle.restore(_zstd_chunks(source), width, start, block)
        else:
            yield from _columns_chunks(source, size)
    except lzma.LZMAError as exc:
        raise VerificationError(f"corrupt LZMA2 payload: {exc}") from None
    except EOFError:
        raise VerificationError("truncated payload") from None


def _xz_decoder(size: int) -> lzma.LZMADecompressor:
    filters = [{"id": lzma.FILTER_LZMA2, "dict_size": xz_dict_size(size)}]
    return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters)


def _xz_chunks(source: BinaryIO, size: int) -> Iterator[bytes]:
    decoder = _xz_decoder(size)
    while not decoder.eof:
        data = b""
        if decoder.needs_input:
            data = source.read(CHUNK)
            if not data:
                raise EOFError
        out = decoder.decompress(data, max_length=CHUNK)
        if out:
            yield out
    if decoder.unused_data or source.read(1):
        raise VerificationError("trailing bytes after the LZMA2 stream")


def _zstd_chunks(source: BinaryIO) -> Iterator[bytes]:
    zstandard = _zstd()
    if zstandard is None:
        raise ToolMissingError("zstandard", "mlflow")
    decoder = zstandard.ZstdDecompressor(max_window_size=1 << ZSTD_WINDOW_LOG)
    # Across frames, so bytes after the first frame are decoded (and so refused by
    # the size and hash checks) rather than silently ignored.
    reader = decoder.stream_reader(source, read_size=CHUNK, read_across_frames=True)
    try:
        yield from iter(lambda: reader.read(CHUNK), b"")
    except zstandard.ZstdError as exc:
        raise VerificationError(f"corrupt zstd payload: {exc}") from None


def _columns_chunks(source: BinaryIO, size: int) -> Iterator[bytes]:
    limit = csvcodec.max_encoded_size(size)
    decoder = _xz_decoder(size)
    # xz never grows its input by more than a small fraction, so a longer payload is junk.
    encoded = decoder.decompress(source.read(limit + CHUNK), max_length=limit + 1)
    if len(encoded) > limit:
        raise VerificationError("column transform larger than the original allows")
    if not decoder.eof:
        raise EOFError
    if decoder.unused_data or source.read(1):
        raise VerificationError("trailing bytes after the LZMA2 stream")
    original = csvcodec.decode(encoded)
    for start in range(0, len(original), CHUNK):
        yield original[start : start + CHUNK]
