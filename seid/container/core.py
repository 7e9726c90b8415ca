"""Packing, unpacking and verifying containers (the layout is in the package docstring)."""

from __future__ import annotations

import hashlib
import io
import os
import struct
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from seid import fsutil
from seid.container import codecs
from seid.container.codecs import CHUNK, Codec
from seid.errors import SeidError, VerificationError

MAGIC = b"SEIDART\x00"
VERSION = 1
STREAM_THRESHOLD = 64 << 20
PROBE_RATIO = 0.97  # a sample must shrink by 3% before a large file is compressed
TEMP_PREFIX = ".seid-part."
_HEADER = struct.Struct(">8sBBQ32s")
HEADER_SIZE = _HEADER.size


@dataclass(frozen=True)
class Header:
    """The fixed header: what the payload decodes to and how."""

    codec: Codec
    size: int
    sha256: bytes

    @property
    def hexdigest(self) -> str:
        return self.sha256.hex()

    def to_bytes(self) -> bytes:
        return _HEADER.pack(MAGIC, VERSION, self.codec, self.size, self.sha256)


def read_header(source: BinaryIO, name: str) -> Header:
    """Parse the header at the start of ``source``; ``name`` is used in errors."""
    raw = source.read(HEADER_SIZE)
    if len(raw) < HEADER_SIZE or not raw.startswith(MAGIC):
        raise VerificationError(f"{name}: not a seid artifact container")
    _, version, codec_id, size, digest = _HEADER.unpack(raw)
    if version != VERSION:
        raise VerificationError(f"{name}: unsupported container version {version}")
    try:
        codec = Codec(codec_id)
    except ValueError:
        raise VerificationError(f"{name}: unknown codec id {codec_id}") from None
    if codec is Codec.COLUMNS_XZ and size > STREAM_THRESHOLD:
        raise VerificationError(f"{name}: column codec used above the {STREAM_THRESHOLD} limit")
    return Header(codec, size, digest)


def header_of(path: Path) -> Header:
    """The header of the container at ``path``."""
    with open(path, "rb") as source:
        return read_header(source, str(path))


def pack(src: Path, dst: Path, *, stream_threshold: int = STREAM_THRESHOLD) -> Header:
    """Write ``src`` to ``dst`` as a container, choosing the smallest payload.

    Files up to ``stream_threshold`` are compressed in memory by every codec; larger
    ones stream through a codec chosen on samples, in bounded memory.
    """
    with open(src, "rb") as source, atomic_output(dst) as out:
        size = os.fstat(source.fileno()).st_size
        if size > stream_threshold:
            return _pack_stream(source, size, out)
        data = source.read()
        codec, payload = choose(data)
        header = Header(codec, len(data), hashlib.sha256(data).digest())
        out.write(header.to_bytes())
        out.write(payload)
        return header


def unpack(src: Path, dst: Path) -> Header:
    """Restore the original of ``src`` at ``dst``; nothing is left at ``dst`` unless it
    decodes to exactly the size and SHA-256 in the header."""
    with open(src, "rb") as source, atomic_output(dst) as out:
        return decode(source, str(src), out.write)


def verify(path: Path) -> Header:
    """Decode ``path`` without writing anything; raises VerificationError if it is bad."""
    with open(path, "rb") as source:
        return decode(source, str(path), lambda _: None)


def choose(data: bytes) -> tuple[Codec, bytes]:
    """The smallest payload for ``data``; stored wins ties, so it never grows past the
    original, and the column codec must round-trip ``data`` exactly to be chosen."""
    best: tuple[Codec, bytes] = (Codec.STORED, data)
    trials: list[tuple[Codec, Callable[[bytes], bytes | None]]] = [
        (Codec.XZ, codecs.xz_compress),
        (Codec.ZSTD, codecs.zstd_compress),
        (Codec.COLUMNS_XZ, codecs.columns_compress),
    ]
    for codec, compress in trials:
        payload = compress(data)
        if (
            payload is not None
            and len(payload) < len(best[1])
            and _round_trips(codec, payload, data)
        ):
            best = (codec, payload)
    return best


def _round_trips(codec: Codec, payload: bytes, data: bytes) -> bool:
    """Only the column transform is checked: it is seid's own code, not a library's."""
    if codec is not Codec.COLUMNS_XZ:
        return True
    try:
        return b"".join(codecs.decode(codec, io.BytesIO(payload), len(data))) == data
    except VerificationError:
        return False


def decode(source: BinaryIO, name: str, sink: Callable[[bytes], object]) -> Header:
    """Stream the original of a container into ``sink``, then check size and hash."""
    header = read_header(source, name)
    hasher = hashlib.sha256()
    total = 0
    try:
        for chunk in codecs.decode(header.codec, source, header.size):
            total += len(chunk)
            if total > header.size:
                raise VerificationError(f"decodes to more than the {header.size} bytes stated")
            hasher.update(chunk)
            sink(chunk)
    except VerificationError as exc:
        raise VerificationError(f"{name}: {exc}") from None
    if total != header.size:
        raise VerificationError(f"{name}: decodes to {total} bytes, header states {header.size}")
    if hasher.digest() != header.sha256:
        raise VerificationError(f"{name}: content SHA-256 does not match the header")
    return header


def atomic_output(dst: Path) -> AbstractContextManager[BinaryIO]:
    """A temporary file beside ``dst`` that replaces it only if the block succeeds
    (:func:`seid.fsutil.atomic_output`, named with :data:`TEMP_PREFIX` so a store never
    lists a partial container)."""
    return fsutil.atomic_output(dst, prefix=TEMP_PREFIX)


def _pack_stream(source: BinaryIO, size: int, out: BinaryIO) -> Header:
    codec = _probe(source, size)
    out.write(bytes(HEADER_SIZE))  # rewritten once the hash is known
    digest = _stream(source, out, codec, size)
    if codec is not Codec.STORED and out.tell() - HEADER_SIZE >= size:
        out.seek(HEADER_SIZE)
        out.truncate()
        codec = Codec.STORED
        digest = _stream(source, out, codec, size)
    header = Header(codec, size, digest)
    out.seek(0)
    out.write(header.to_bytes())
    return header


def _stream(source: BinaryIO, out: BinaryIO, codec: Codec, size: int) -> bytes:
    source.seek(0)
    encoder = codecs.stream_encoder(codec, size)
    hasher = hashlib.sha256()
    total = 0
    for chunk in iter(lambda: source.read(CHUNK), b""):
        total += len(chunk)
        hasher.update(chunk)
        out.write(chunk if encoder is None else encoder.compress(chunk))
    if encoder is not None:
        out.write(encoder.flush())
    if total != size:
        raise SeidError(f"{getattr(source, 'name', 'input')} changed while it was being packed")
    return hasher.digest()


def _probe(source: BinaryIO, size: int) -> Codec:
    """Pick the streaming codec on three 1 MiB samples (start, middle, end): a full
    trial of every codec would read and compress a large file several times."""
    sample = b""
    for offset in (0, max(0, size // 2 - CHUNK // 2), max(0, size - CHUNK)):
        source.seek(offset)
        sample += source.read(CHUNK)
    best, best_size = Codec.STORED, int(len(sample) * PROBE_RATIO)
    for codec in (Codec.XZ, Codec.ZSTD):
        encoder = codecs.stream_encoder(codec, len(sample))
        if encoder is not None:
            compressed = len(encoder.compress(sample)) + len(encoder.flush())
            if compressed < best_size:
                best, best_size = codec, compressed
    return best
