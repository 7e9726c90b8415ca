"""The column-wise transform for delimited text (CSV, TSV) that runs ahead of xz.

Rows of a table repeat the same kinds of value in the same columns; written row by row
they interleave, so an LZ coder sees ``id,date,amount`` patterns it cannot model well.
Written column by column, similar values sit together and xz's matches get longer.

The split is naive on purpose (bytes, not the CSV grammar): the file is cut at every LF
into rows and every row at every delimiter into fields. Joining back is then the exact
inverse whatever the quoting, so the transform is lossless by construction; only tables
whose rows all have the same number of fields are eligible. Layout of the transformed
bytes (integers unsigned big-endian)::

    delimiter   1 byte   one of , TAB ; |
    flags       1 byte   bit 0: the original ends with LF (that LF is not a row)
    ncols       u32      fields per row, >= 2
    nrows       u64      rows, >= 2
    ncols times:
      length    u64      byte length of the column
      column    bytes    field j of every row, in row order, joined with LF
"""

from __future__ import annotations

import struct

from seid.errors import VerificationError

DELIMITERS = (b",", b"\t", b";", b"|")
SNIFF_BYTES = 64 * 1024
SNIFF_ROWS = 20
LF = b"\n"
_HEAD = struct.Struct(">cBIQ")
_LEN = struct.Struct(">Q")
_ENDS_WITH_LF = 0x01


def sniff(data: bytes) -> bytes | None:
    """The delimiter a table in ``data`` most plausibly uses, or None if it is not one.

    Cheap and conservative: binary data (a NUL in the first 64 KiB) is never a table,
    and the delimiter must occur the same number of times on each of the first rows.
    """
    head = data[:SNIFF_BYTES]
    if b"\x00" in head or LF not in head:
        return None
    rows = head.split(LF)[:-1][:SNIFF_ROWS]  # whole rows only
    best: tuple[int, bytes] | None = None
    for delim in DELIMITERS:
        counts = {row.count(delim) for row in rows}
        if len(counts) == 1 and (n := counts.pop()) > 0 and (best is None or n > best[0]):
            best = (n, delim)
    return None if best is None else best[1]


def encode(data: bytes, delim: bytes) -> bytes | None:
    """The column-wise form of ``data``, or None when ``data`` is not a regular table."""
    ends_with_lf = data.endswith(LF)
    body = data[:-1] if ends_with_lf else data
    rows = [row.split(delim) for row in body.split(LF)]
    ncols = len(rows[0])
    if len(rows) < 2 or ncols < 2 or any(len(row) != ncols for row in rows):
        return None
    parts = [_HEAD.pack(delim, _ENDS_WITH_LF if ends_with_lf else 0, ncols, len(rows))]
    for column in zip(*rows, strict=True):
        joined = LF.join(column)
        parts += (_LEN.pack(len(joined)), joined)
    return b"".join(parts)


def max_encoded_size(size: int) -> int:
    """An upper bound on the transformed size of a ``size``-byte original.

    Each delimiter adds at most one column header (8 bytes) and each row separator stays
    one LF, so the transform is under 9x the original plus the fixed head; the decoder
    uses this bound to refuse decompression bombs.
    """
    return 9 * size + _HEAD.size + 64


def decode(encoded: bytes) -> bytes:
    """The original bytes back; a malformed transform raises VerificationError."""
    if len(encoded) < _HEAD.size:
        raise VerificationError("column transform: truncated head")
    delim, flags, ncols, nrows = _HEAD.unpack_from(encoded)
    if delim not in DELIMITERS or flags & ~_ENDS_WITH_LF or ncols < 2 or nrows < 2:
        raise VerificationError("column transform: invalid head")
    columns: list[list[bytes]] = []
    offset = _HEAD.size
    for _ in range(ncols):
        if offset + _LEN.size > len(encoded):
            raise VerificationError("column transform: truncated column table")
        (length,) = _LEN.unpack_from(encoded, offset)
        offset += _LEN.size
        if offset + length > len(encoded):
            raise VerificationError("column transform: column runs past the end")
        column = encoded[offset : offset + length].split(LF)
        offset += length
        if len(column) != nrows:
            raise VerificationError("column transform: column length differs from row count")
        columns.append(column)
    if offset != len(encoded):
        raise VerificationError("column transform: trailing bytes")
    body = LF.join(delim.join(row) for row in zip(*columns, strict=True))
    return body + LF if flags & _ENDS_WITH_LF else body
