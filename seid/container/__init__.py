"""seid artifact containers: one file in, one self-verifying compressed file out.

Every artifact seid stores is kept as a container, so that a flipped bit, a truncated
copy or a different file put in its place is caught when it is read back, and so that
anyone can read it without seid: the payload is raw LZMA2 or a zstd frame, which the
stock ``xz`` and ``zstd`` tools decode.

Byte layout (all integers unsigned big-endian; offsets in bytes)::

    offset  size  field
    0       8     magic          53 45 49 44 41 52 54 00  ("SEIDART" then NUL)
    8       1     version        01
    9       1     codec id       00 stored | 01 xz | 02 zstd | 03 columns+xz | 04 shuffle+zstd
    10      8     original size  length of the original file in bytes (u64)
    18      32    SHA-256        digest of the original file's bytes
    50      ...   payload        to the end of the file

Codecs (the payload of each):

- ``00`` stored: the original bytes.
- ``01`` xz: raw LZMA2, the data part of an .xz block without the .xz framing (lc,
  lp, pb are in the stream; the encoder's dictionary is at most 64 MiB, and a decoder
  needs at most min(64 MiB, the original size)). Read with
  ``tail -c +51 FILE | xz -d --format=raw --lzma2=dict=64MiB``.
- ``02`` zstd: one zstd frame, window at most 2^27 bytes.
  Read with ``tail -c +51 FILE | zstd -d --long=27``.
- ``03`` columns+xz: raw LZMA2 (as ``01``) of the column-wise transform of a delimited
  text table (layout in :mod:`seid.container.csvcodec`); only for originals <= 64 MiB.
- ``04`` shuffle+zstd: the byte-plane shuffle of fixed-width elements (tensors), then
  zstd (layout in :mod:`seid.container.shuffle`).

A reader must decode the payload, and accept the file only if the result has exactly
the stated size and SHA-256; anything after the end of the LZMA2 stream or the zstd
frame(s) is an error.

How seid packs: the codec is chosen on samples and run once (level ``balanced``), or
chosen as the smallest of all (level ``max``); see :mod:`seid.container.choice`. Output
goes to a temporary file in the destination directory and is renamed into place only
when complete.
"""

from __future__ import annotations

from seid.container.codecs import Codec
from seid.container.core import (
    HEADER_SIZE,
    MAGIC,
    STREAM_THRESHOLD,
    TEMP_PREFIX,
    VERSION,
    Header,
    Progress,
    atomic_output,
    decode,
    header_of,
    pack,
    read_header,
    unpack,
    verify,
)

__all__ = [
    "HEADER_SIZE",
    "MAGIC",
    "STREAM_THRESHOLD",
    "TEMP_PREFIX",
    "VERSION",
    "Codec",
    "Header",
    "Progress",
    "atomic_output",
    "decode",
    "header_of",
    "pack",
    "read_header",
    "unpack",
    "verify",
]
