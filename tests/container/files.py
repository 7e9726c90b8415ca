"""Files as an artifact store holds them, written by the tests: weights in the formats
frameworks save, tables, text, random and already-compressed bytes."""

from __future__ import annotations

import gzip
import json
import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ELEMENTS = 300_000  # 1.2 MB of float32: enough for the samples to see the file's kind


def weights(dtype: str, n: int = ELEMENTS, seed: int = 0) -> np.ndarray:
    """Trained-looking weights: small normal values, as a layer's parameters are."""
    values = np.random.default_rng(seed).standard_normal(n).astype(np.float32) * 0.02
    if dtype == "bfloat16":  # the top half of a float32, as torch stores it
        return (values.view(np.uint32) >> 16).astype(np.uint16)
    return values.astype(dtype)


def safetensors(tensors: dict[str, tuple[str, np.ndarray]]) -> bytes:
    """The safetensors layout: u64 LE header length, JSON header, then the data."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset, blobs = 0, []
    for name, (dtype, array) in tensors.items():
        blob = array.tobytes()
        header[name] = {
            "dtype": dtype,
            "shape": [array.size],
            "data_offsets": [offset, offset + len(blob)],
        }
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def table_csv(rows: int = 20_000) -> bytes:
    rng = np.random.default_rng(3)
    lines = ["id,date,region,amount,approved,score"]
    for i in range(rows):
        region = ("north", "south", "east", "west")[i % 4]
        lines.append(
            f"{i},2024-{i % 12 + 1:02d}-{i % 28 + 1:02d},{region},"
            f"{(i * 7919) % 100000 / 100:.2f},{i % 3 == 0},{rng.random():.4f}"
        )
    return ("\n".join(lines) + "\n").encode()


def parquet(tmp: Path, floats: bool) -> bytes:
    """Parquet compressed with zstd: ids and tokens (nothing left to find), or floats
    (parquet's plain encoding leaves their exponent bytes for a byte shuffle to find)."""
    rng = np.random.default_rng(4)
    if floats:
        data = pa.table({"x": rng.standard_normal(100_000)})
    else:
        data = pa.table({"token": [rng.bytes(16) for _ in range(40_000)]})
    path = tmp / "t.parquet"
    pq.write_table(data, path, compression="zstd")
    return path.read_bytes()


MAKERS: dict[str, Callable[[Path], bytes]] = {
    "npy-float32": lambda tmp: _npy(tmp, weights("float32")),
    "npy-float16": lambda tmp: _npy(tmp, weights("float16")),
    "npy-bfloat16": lambda tmp: _npy(tmp, weights("bfloat16")),
    "safetensors-float32": lambda _: safetensors(
        {"w": ("F32", weights("float32")), "b": ("F32", weights("float32", 1000, 1))}
    ),
    "safetensors-float16": lambda _: safetensors({"w": ("F16", weights("float16"))}),
    "safetensors-bfloat16": lambda _: safetensors({"w": ("BF16", weights("bfloat16"))}),
    "raw-weights": lambda _: weights("float32").tobytes(),
    "csv": lambda _: table_csv(),
    "text": lambda _: b"".join(b"step %d loss %.5f\n" % (i, 1 / (i + 1)) for i in range(40_000)),
    "parquet": lambda tmp: parquet(tmp, floats=False),
    "parquet-floats": lambda tmp: parquet(tmp, floats=True),
    "random": lambda _: os.urandom(1 << 20),
    "gzip": lambda _: gzip.compress(table_csv(), compresslevel=6),
}


def _npy(tmp: Path, array: np.ndarray) -> bytes:
    path = tmp / "a.npy"
    np.save(path, array)
    return path.read_bytes()
