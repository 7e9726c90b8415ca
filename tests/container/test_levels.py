"""Both levels on the kinds of file an artifact store holds: round trip, size bounds
against the stock tools, and the codec the samples chose."""

from __future__ import annotations

import lzma
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from seid import container
from seid.container import Codec
from seid.container.choice import LEVEL_ENV, level_from_env
from seid.errors import SeidError
from tests.container.files import MAKERS

EXPECTED = {
    "npy-float32": Codec.SHUFFLE_ZSTD,
    "npy-float16": Codec.SHUFFLE_ZSTD,
    "npy-bfloat16": Codec.SHUFFLE_ZSTD,
    "safetensors-float32": Codec.SHUFFLE_ZSTD,
    "safetensors-float16": Codec.SHUFFLE_ZSTD,
    "safetensors-bfloat16": Codec.SHUFFLE_ZSTD,
    "raw-weights": Codec.SHUFFLE_ZSTD,
    "csv": Codec.COLUMNS_XZ,
    "text": Codec.ZSTD,
    "parquet": Codec.STORED,
    "parquet-floats": Codec.SHUFFLE_ZSTD,
    "random": Codec.STORED,
    "gzip": Codec.ZSTD,  # zstd still finds 8% in gzip output: stored would be larger
}


def _file(tmp_path: Path, kind: str) -> tuple[Path, bytes]:
    data = MAKERS[kind](tmp_path)
    path = tmp_path / f"in.{kind}"
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_balanced_round_trips_below_zstd_3(tmp_path: Path, kind: str) -> None:
    src, data = _file(tmp_path, kind)
    header = container.pack(src, tmp_path / "c")
    assert header.codec is EXPECTED[kind]
    stored = (tmp_path / "c").stat().st_size - container.HEADER_SIZE
    if header.codec is Codec.STORED:  # samples shrank < 3%: kept as is, at copy speed
        assert stored == len(data)
        assert len(zstandard.ZstdCompressor(level=3).compress(data)) > 0.97 * len(data)
    else:
        assert stored <= len(zstandard.ZstdCompressor(level=3).compress(data))
    container.unpack(tmp_path / "c", tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data


@pytest.mark.parametrize(
    "kind", [k for k in sorted(MAKERS) if k.startswith(("npy", "safe", "raw"))]
)
def test_float_tensors_are_smaller_than_xz_6(tmp_path: Path, kind: str) -> None:
    src, data = _file(tmp_path, kind)
    container.pack(src, tmp_path / "c")
    xz6 = lzma.compress(data, preset=6)
    assert (tmp_path / "c").stat().st_size < len(xz6)


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_max_is_never_larger_than_xz_9e(tmp_path: Path, kind: str) -> None:
    src, data = _file(tmp_path, kind)
    header = container.pack(src, tmp_path / "c", level="max")
    xz = lzma.compress(data, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)
    assert (tmp_path / "c").stat().st_size <= len(xz)
    assert container.verify(tmp_path / "c") == header


def test_a_width_probed_on_the_wrong_alignment_still_round_trips(tmp_path: Path) -> None:
    """An odd-sized header before float32 data: the shuffle is a permutation whatever
    the width it was given, so only the ratio can suffer, never the bytes."""
    data = b"hdr" + MAKERS["raw-weights"](tmp_path) + b"tail!"
    (tmp_path / "odd").write_bytes(data)
    container.pack(tmp_path / "odd", tmp_path / "c")
    container.unpack(tmp_path / "c", tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == data


def test_level_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LEVEL_ENV, "max")
    assert level_from_env() == "max"
    monkeypatch.setenv(LEVEL_ENV, "fastest")
    with pytest.raises(SeidError, match=f"{LEVEL_ENV}: artifact level 'fastest' is not one of"):
        level_from_env()


# Peak RSS read as VmHWM in a child of its own (ru_maxrss would carry pytest's size).
RSS_SCRIPT = """
import sys
from pathlib import Path
import numpy as np
from seid import container

work = Path(sys.argv[1])
rng = np.random.default_rng(0)
with open(work / "w.npy", "wb") as out:  # 1 GiB of float32 weights, written in slices
    np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False,
                                               "shape": (1 << 28,)})
    for _ in range(64):
        out.write((rng.standard_normal(1 << 22).astype(np.float32) * 0.02).tobytes())
header = container.pack(work / "w.npy", work / "w.seid")
container.unpack(work / "w.seid", work / "back.npy")
with open("/proc/self/status") as status:
    line = next(line for line in status if line.startswith("VmHWM:"))
print(header.codec.name, int(line.split()[1]) // 1024)
"""


@pytest.mark.slow
def test_a_gibibyte_of_weights_packs_in_bounded_memory(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    codec, peak_mib = proc.stdout.split()
    assert codec == "SHUFFLE_ZSTD"
    assert int(peak_mib) <= 200, peak_mib
    assert (tmp_path / "w.seid").stat().st_size < (tmp_path / "w.npy").stat().st_size * 0.95
    same = subprocess.run(["cmp", "-s", str(tmp_path / "w.npy"), str(tmp_path / "back.npy")])
    assert same.returncode == 0
