"""Codec 04, shuffle+zstd: read from its documented layout alone, refused when tampered."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seid import container
from seid.container import shuffle
from seid.errors import VerificationError
from tests.container.files import MAKERS


def read_by_hand(raw: bytes) -> bytes:
    """The README's layout, with the stock zstd tool and numpy, and nothing of seid."""
    width, start, block = struct.unpack(">BQI", raw[50:63])
    transformed = subprocess.run(
        ["zstd", "-d", "--long=27"], input=raw[63:], capture_output=True, check=True
    ).stdout
    out = [transformed[:start]]
    for at in range(start, len(transformed), block):
        piece = transformed[at : at + block]
        whole = len(piece) - len(piece) % width
        planes = np.frombuffer(piece[:whole], dtype=np.uint8).reshape(width, -1)
        out += [planes.T.tobytes(), piece[whole:]]
    return b"".join(out)


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd not installed")
@pytest.mark.parametrize("kind", ["npy-float16", "safetensors-float32", "raw-weights"])
def test_payload_is_readable_from_the_documented_layout(tmp_path: Path, kind: str) -> None:
    data = MAKERS[kind](tmp_path)
    (tmp_path / "in").write_bytes(data)
    header = container.pack(tmp_path / "in", tmp_path / "c")
    assert header.codec is container.Codec.SHUFFLE_ZSTD
    assert read_by_hand((tmp_path / "c").read_bytes()) == data


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(2, 16))
def test_planes_are_a_permutation(block: bytes, width: int) -> None:
    assert shuffle.unplanes(shuffle.planes(block, width), width) == block
    assert sorted(shuffle.planes(block, width)) == sorted(block)


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (50, 1, "bad shuffle parameters"),  # width 1
        (50, 17, "bad shuffle parameters"),
        (51, 0xFF, "past the original"),  # start beyond the size
        (62, 3, "bad shuffle parameters"),  # block not a multiple of the width
    ],
)
def test_tampered_parameters_are_refused(
    tmp_path: Path, offset: int, value: int, message: str
) -> None:
    (tmp_path / "in").write_bytes(MAKERS["raw-weights"](tmp_path))
    container.pack(tmp_path / "in", tmp_path / "c")
    raw = bytearray((tmp_path / "c").read_bytes())
    raw[offset] = value
    (tmp_path / "bad").write_bytes(raw)
    with pytest.raises(VerificationError, match=message):
        container.verify(tmp_path / "bad")


def test_a_flipped_payload_byte_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "in").write_bytes(MAKERS["npy-float32"](tmp_path))
    container.pack(tmp_path / "in", tmp_path / "c")
    raw = bytearray((tmp_path / "c").read_bytes())
    raw[len(raw) // 2] ^= 0x10
    (tmp_path / "bad").write_bytes(raw)
    with pytest.raises(VerificationError, match="bad"):
        container.unpack(tmp_path / "bad", tmp_path / "out")
    assert not (tmp_path / "out").exists()
