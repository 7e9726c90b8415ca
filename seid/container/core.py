"""Packing, unpacking and verifying containers (the layout is in the package docstring)."""

from __future__ import annotations

import hashlib
import io
import os
import queue
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from seid import fsutil
from seid.container import choice, codecs, shuffle
from seid.container.choice import Level
from seid.container.codecs import CHUNK, Codec
from seid.errors import SeidError, VerificationError

MAGIC = b"SEIDART\x00"
VERSION = 1
STREAM_THRESHOLD = 64 << 20
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


Progress = Callable[[int], object]


def pack(
    src: Path,
    dst: Path,
    *,
    level: Level = "balanced",
    stream_threshold: int = STREAM_THRESHOLD,
    progress: Progress | None = None,
) -> Header:
    """Write ``src`` to ``dst`` as a container (levels: :mod:`seid.container.choice`).

    ``progress`` is called with the number of original bytes each step consumed.
    """
    with open(src, "rb") as source, atomic_output(dst) as out:
        size = os.fstat(source.fileno()).st_size
        if level == "max" and size <= stream_threshold:
            data = source.read()
            codec, payload = smallest(data, choice.choose(io.BytesIO(data), size, level))
            header = Header(codec, len(data), hashlib.sha256(data).digest())
            out.write(header.to_bytes())
            out.write(payload)
            if progress is not None:
                progress(size)
            return header
        return _pack_stream(source, size, out, choice.choose(source, size, level), progress)


def unpack(src: Path, dst: Path, progress: Progress | None = None) -> Header:
    """Restore the original of ``src`` at ``dst``; nothing is left at ``dst`` unless it
    decodes to exactly the size and SHA-256 in the header."""
    with open(src, "rb") as source, atomic_output(dst) as out:
        if progress is None:
            return decode(source, str(src), out.write)

        def sink(chunk: bytes) -> None:
            out.write(chunk)
            progress(len(chunk))

        return decode(source, str(src), sink)


def verify(path: Path) -> Header:
    """Decode ``path`` without writing anything; raises VerificationError if it is bad."""
    with open(path, "rb") as source:
        return decode(source, str(path), lambda _: None)


def smallest(data: bytes, sampled: choice.Choice) -> tuple[Codec, bytes]:
    """The smallest payload for ``data`` over every codec (the shuffle at the width the
    samples found); stored wins ties, so it never grows past the original, and the
    column codec must round-trip ``data`` exactly to be chosen."""
    best: tuple[Codec, bytes] = (Codec.STORED, data)
    trials: list[tuple[Codec, Callable[[bytes], bytes | None]]] = [
        (Codec.XZ, codecs.xz_compress),
        (Codec.ZSTD, codecs.zstd_compress),
        (Codec.COLUMNS_XZ, codecs.columns_compress),
    ]
    if sampled.codec is Codec.SHUFFLE_ZSTD:
        trials.append((Codec.SHUFFLE_ZSTD, partial(_shuffled, sampled)))
    for codec, compress in trials:
        payload = compress(data)
        if (
            payload is not None
            and len(payload) < len(best[1])
            and _round_trips(codec, payload, data)
        ):
            best = (codec, payload)
    return best


def _shuffled(sampled: choice.Choice, data: bytes) -> bytes | None:
    out = io.BytesIO()
    _encode(io.BytesIO(data), out, sampled, len(data), None)
    return out.getvalue()


def _round_trips(codec: Codec, payload: bytes, data: bytes) -> bool:
    """Only the transforms are checked: they are seid's own code, not a library's."""
    if codec not in (Codec.COLUMNS_XZ, Codec.SHUFFLE_ZSTD):
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


def _pack_stream(
    source: BinaryIO, size: int, out: BinaryIO, chosen: choice.Choice, progress: Progress | None
) -> Header:
    out.write(bytes(HEADER_SIZE))  # rewritten once the hash is known
    codec, digest = chosen.codec, _encode(source, out, chosen, size, progress)
    if codec is not Codec.STORED and out.tell() - HEADER_SIZE >= size:
        out.seek(HEADER_SIZE)
        out.truncate()
        codec = Codec.STORED
        digest = _encode(source, out, choice.Choice(codec), size, None)
    header = Header(codec, size, digest)
    out.seek(0)
    out.write(header.to_bytes())
    return header


def _encode(
    source: BinaryIO, out: BinaryIO, chosen: choice.Choice, size: int, progress: Progress | None
) -> bytes:
    """One pass: read ``source`` once, write the payload; the original's SHA-256.

    The hash runs in a thread of its own (hashlib releases the GIL), beside the
    transform and the encoder, so both cores work on a large file.
    """
    source.seek(0)
    with _Hasher() as hasher:
        if chosen.codec is Codec.COLUMNS_XZ:
            data = source.read()
            hasher.update(data)
            payload = codecs.columns_compress(data, chosen.level)
            out.write(payload if payload is not None else codecs.xz_compress(data, chosen.level))
            total = len(data)
            if progress is not None:
                progress(total)
        else:
            total = _encode_stream(source, out, chosen, size, hasher.update, progress)
    if total != size:
        raise SeidError(f"{getattr(source, 'name', 'input')} changed while it was being packed")
    return hasher.digest()


def _encode_stream(
    source: BinaryIO,
    out: BinaryIO,
    chosen: choice.Choice,
    size: int,
    hash_update: Callable[[bytes], None],
    progress: Progress | None,
) -> int:
    encoder = codecs.stream_encoder(chosen.codec, size, chosen.level)
    shuffled = chosen.codec is Codec.SHUFFLE_ZSTD
    if shuffled:
        out.write(shuffle.params(chosen.width, chosen.start))
    total = 0
    for chunk in _chunks(source, chosen):
        total += len(chunk)
        hash_update(chunk)
        if shuffled and total > chosen.start:
            chunk = shuffle.planes(chunk, chosen.width)
        out.write(chunk if encoder is None else encoder.compress(chunk))
        if progress is not None:
            progress(len(chunk))
    if encoder is not None:
        out.write(encoder.flush())
    return total


class _Hasher:
    """SHA-256 in a background thread, fed whole chunks (bytes never change under it)."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._thread = threading.Thread(target=self._run, name="seid-hash", daemon=True)

    def __enter__(self) -> _Hasher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()

    def update(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def digest(self) -> bytes:
        return self._sha.digest()

    def _run(self) -> None:
        for chunk in iter(self._queue.get, None):
            self._sha.update(chunk)


def _chunks(source: BinaryIO, chosen: choice.Choice) -> Iterator[bytes]:
    """The file in the pieces the codec needs: the shuffle's header, then its blocks."""
    if chosen.codec is Codec.SHUFFLE_ZSTD:
        if chosen.start:
            yield source.read(chosen.start)
        yield from iter(lambda: source.read(shuffle.BLOCK), b"")
    else:
        yield from iter(lambda: source.read(CHUNK), b"")
