"""Artifact containers: layout, every codec, the column transform, tamper refusal."""

from __future__ import annotations

import contextlib
import hashlib
import lzma
import os
import pickle
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from seid import container
from seid.container import Codec, csvcodec
from seid.errors import VerificationError

HEADER = struct.Struct(">8sBBQ32s")


def table(rows: int) -> bytes:
    lines = ["id,region,amount,approved"]
    lines += [
        f"{i},{('north', 'south', 'east')[i % 3]},{i * 37 % 1000}.25,{i % 2}" for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def raw_lzma2(data: bytes, preset: int = 6) -> bytes:
    """What any LZMA2 encoder writes without .xz framing (xz --format=raw)."""
    filters = [{"id": lzma.FILTER_LZMA2, "preset": preset}]
    return lzma.compress(data, format=lzma.FORMAT_RAW, filters=filters)


def by_hand(codec: int, original: bytes, payload: bytes) -> bytes:
    """A container built from the documented layout alone, without seid."""
    return (
        HEADER.pack(b"SEIDART\x00", 1, codec, len(original), hashlib.sha256(original).digest())
        + payload
    )


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    path.write_bytes(table(2000))
    return path


def pack_bytes(tmp_path: Path, data: bytes, **kwargs: Any) -> tuple[container.Header, Path]:
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    dst = tmp_path / "src.bin.seid"
    return container.pack(src, dst, **kwargs), dst


def test_header_layout_is_as_documented(csv_file: Path, tmp_path: Path) -> None:
    header = container.pack(csv_file, tmp_path / "c")
    raw = (tmp_path / "c").read_bytes()
    magic, version, codec, size, digest = HEADER.unpack_from(raw)
    assert (magic, version, container.HEADER_SIZE) == (b"SEIDART\x00", 1, 50)
    assert codec == header.codec == Codec.COLUMNS_XZ
    assert size == csv_file.stat().st_size
    assert digest == hashlib.sha256(csv_file.read_bytes()).digest()


def test_csv_transform_beats_xz_and_round_trips(csv_file: Path, tmp_path: Path) -> None:
    data = csv_file.read_bytes()
    container.pack(csv_file, tmp_path / "c")
    xz = lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)
    assert (tmp_path / "c").stat().st_size < len(xz)
    container.unpack(tmp_path / "c", tmp_path / "back.csv")
    assert (tmp_path / "back.csv").read_bytes() == data


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"x",
        os.urandom(5000),
        b"abc" * 3000,
        table(50).replace(b"\n", b"\r\n"),
        bytes(range(256)) * 40,
        pickle.dumps({"coef": [random.Random(1).gauss(0, 1) for _ in range(3000)]}),
    ],
    ids=["empty", "one-byte", "random", "repetitive", "crlf-table", "binary", "pickle"],
)
def test_max_is_never_larger_than_xz_or_the_original(tmp_path: Path, data: bytes) -> None:
    """Header included: the same LZMA2 data as ``xz -9e`` without the .xz framing."""
    header, dst = pack_bytes(tmp_path, data, level="max")
    xz = lzma.compress(data, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)
    assert dst.stat().st_size <= max(len(xz), container.HEADER_SIZE)  # xz of b"": 32 bytes
    assert dst.stat().st_size <= len(data) + container.HEADER_SIZE
    assert container.verify(dst) == header
    container.unpack(dst, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data


def test_random_bytes_are_stored(tmp_path: Path) -> None:
    header, dst = pack_bytes(tmp_path, os.urandom(20000))
    assert header.codec is Codec.STORED
    assert dst.stat().st_size == 20000 + container.HEADER_SIZE


@pytest.mark.parametrize(
    ("codec", "compress"),
    [
        (Codec.STORED, lambda d: d),
        (Codec.XZ, raw_lzma2),
        (Codec.ZSTD, lambda d: zstandard.ZstdCompressor(level=3).compress(d)),
        (
            Codec.COLUMNS_XZ,
            lambda d: raw_lzma2(csvcodec.encode(d, b",") or b""),
        ),
    ],
)
def test_every_codec_decodes_from_stock_tools(
    tmp_path: Path, codec: Codec, compress: object
) -> None:
    """Containers written by other tools from the documented layout are read back."""
    data = table(300)
    path = tmp_path / "hand.seid"
    path.write_bytes(by_hand(codec, data, compress(data)))  # type: ignore[operator]
    assert container.verify(path).codec is codec
    container.unpack(path, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data


@pytest.mark.parametrize(
    "tool", [["xz", "-d", "--format=raw", "--lzma2=dict=64MiB"], ["zstd", "-d", "--long=27"]]
)
def test_payload_is_readable_with_the_stock_cli(tmp_path: Path, tool: list[str]) -> None:
    if shutil.which(tool[0]) is None:
        pytest.skip(f"{tool[0]} not installed")
    data = b"".join(b"line %d of a log\n" % (i % 97) for i in range(4000))
    codec = Codec.XZ if tool[0] == "xz" else Codec.ZSTD
    payload = (
        raw_lzma2(data, preset=9 | lzma.PRESET_EXTREME)
        if codec is Codec.XZ
        else zstandard.ZstdCompressor(level=19).compress(data)
    )
    path = tmp_path / "c.seid"
    path.write_bytes(by_hand(codec, data, payload))
    raw = path.read_bytes()[container.HEADER_SIZE :]
    out = subprocess.run(tool, input=raw, capture_output=True, check=True).stdout
    assert out == data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (os.urandom(300_000), {Codec.STORED}),
        (table(6000), {Codec.COLUMNS_XZ}),
        (b"".join(b"log line %d\n" % (i % 50) for i in range(30000)), {Codec.XZ, Codec.ZSTD}),
    ],
    ids=["random", "table", "text"],
)
def test_max_streams_past_its_threshold(tmp_path: Path, data: bytes, expected: set[Codec]) -> None:
    header, dst = pack_bytes(tmp_path, data, level="max", stream_threshold=64 << 10)
    assert header.codec in expected
    assert header.size == len(data)
    assert header.sha256 == hashlib.sha256(data).digest()
    container.unpack(dst, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data


def tampered(raw: bytes, how: str) -> bytes:
    if how == "flip":
        middle = container.HEADER_SIZE + (len(raw) - container.HEADER_SIZE) // 2
        return raw[:middle] + bytes([raw[middle] ^ 0x01]) + raw[middle + 1 :]
    if how == "truncate":
        return raw[: len(raw) - 10]
    if how == "append":
        return raw + b"\x00junk"
    if how == "size":
        return raw[:10] + struct.pack(">Q", int.from_bytes(raw[10:18], "big") - 1) + raw[18:]
    if how == "digest":
        return raw[:18] + bytes(32) + raw[50:]
    if how == "magic":
        return b"SEIDARX\x00" + raw[8:]
    if how == "version":
        return raw[:8] + b"\x02" + raw[9:]
    if how == "codec":
        return raw[:9] + b"\x09" + raw[10:]
    if how == "header-only":
        return raw[:30]
    raise AssertionError(how)


HOWS = ["flip", "truncate", "append", "size", "digest", "magic", "version", "codec", "header-only"]


@pytest.mark.parametrize("kind", ["csv", "xz", "stored", "zstd"])
@pytest.mark.parametrize("how", HOWS)
def test_tampered_containers_are_refused_and_leave_nothing(
    tmp_path: Path, kind: str, how: str
) -> None:
    data = table(400) if kind != "stored" else os.urandom(4000)
    if kind == "csv":
        raw = by_hand(Codec.COLUMNS_XZ, data, raw_lzma2(csvcodec.encode(data, b",") or b""))
    elif kind == "xz":
        raw = by_hand(Codec.XZ, data, raw_lzma2(data))
    elif kind == "zstd":
        raw = by_hand(Codec.ZSTD, data, zstandard.ZstdCompressor(level=3).compress(data))
    else:
        raw = by_hand(Codec.STORED, data, data)
    bad = tmp_path / "bad.seid"
    bad.write_bytes(tampered(raw, how))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(VerificationError, match=r"bad\.seid"):
        container.unpack(bad, out_dir / "restored")
    with pytest.raises(VerificationError):
        container.verify(bad)
    assert list(out_dir.iterdir()) == []


def test_decompression_bomb_stops_at_stated_size(tmp_path: Path) -> None:
    payload = zstandard.ZstdCompressor(level=3).compress(bytes(50 << 20))
    path = tmp_path / "bomb.seid"
    path.write_bytes(by_hand(Codec.ZSTD, b"tiny", payload))
    with pytest.raises(VerificationError, match="more than the 4 bytes"):
        container.verify(path)


# -- the column transform -------------------------------------------------------------

FIELD = st.text(alphabet=st.sampled_from('ab01.-" é\r'), max_size=6).map(str.encode)


@st.composite
def tables(draw: st.DrawFn) -> tuple[bytes, bytes]:
    delim = draw(st.sampled_from(csvcodec.DELIMITERS))
    ncols = draw(st.integers(2, 5))
    rows = draw(st.lists(st.lists(FIELD, min_size=ncols, max_size=ncols), min_size=2, max_size=12))
    body = b"\n".join(delim.join(row) for row in rows)
    return body + draw(st.sampled_from([b"", b"\n"])), delim


@settings(max_examples=150, deadline=None)
@given(tables())
def test_column_transform_round_trips_tables(case: tuple[bytes, bytes]) -> None:
    data, delim = case
    encoded = csvcodec.encode(data, delim)
    if encoded is not None:  # a field holding the delimiter can make rows ragged
        assert csvcodec.decode(encoded) == data
        assert len(encoded) <= csvcodec.max_encoded_size(len(data))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(csvcodec.DELIMITERS))
def test_column_transform_is_exact_or_declines_on_any_bytes(data: bytes, delim: bytes) -> None:
    encoded = csvcodec.encode(data, delim)
    if encoded is not None:
        assert csvcodec.decode(encoded) == data


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=120))
def test_column_decoder_refuses_garbage_cleanly(garbage: bytes) -> None:
    with contextlib.suppress(VerificationError):
        csvcodec.decode(garbage)


def test_ragged_rows_and_non_tables_are_declined() -> None:
    assert csvcodec.encode(b"a,b\nc,d,e\n", b",") is None
    assert csvcodec.encode(b"a,b\n", b",") is None  # one row
    assert csvcodec.sniff(b"\x00a,b\nc,d\n") is None
    assert csvcodec.sniff(b"no delimiters\nhere\n") is None
    assert csvcodec.sniff(b"a\tb\tc\n1\t2\t3\n") == b"\t"


# Peak RSS is read as VmHWM: ru_maxrss survives exec on Linux, so a child would report
# at least the (large) pytest parent's size at fork time.
PEAK_RSS = """
def peak_mib():
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) // 1024
"""

STREAM_RSS_SCRIPT = (
    PEAK_RSS
    + """
import sys
from pathlib import Path
from seid import container

work = Path(sys.argv[1])
with open(work / "big.bin", "wb") as out:  # 200 MiB, compressible: the xz/zstd stream path
    for i in range(200):
        out.write(b"chunk %d\\n" % i + bytes((1 << 20) - 16) + b"%015d\\n" % i)
header = container.pack(work / "big.bin", work / "big.seid")
container.unpack(work / "big.seid", work / "back.bin")
print(header.codec.name, peak_mib())
"""
)


@pytest.mark.slow
def test_200_mib_compresses_and_restores_in_bounded_memory(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", STREAM_RSS_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    codec, peak_mib = proc.stdout.split()
    assert codec in ("XZ", "ZSTD")
    assert int(peak_mib) < 150, (codec, peak_mib)
    assert (tmp_path / "big.seid").stat().st_size < 10 << 20
    same = subprocess.run(["cmp", "-s", str(tmp_path / "big.bin"), str(tmp_path / "back.bin")])
    assert same.returncode == 0
