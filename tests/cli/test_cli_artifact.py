"""``seid artifact pack|unpack|verify`` through the real CLI, without MLflow."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import SeidRunner, assert_one_line_error


def csv_bytes() -> bytes:
    rows = [f"{i},{i % 7},{i * 3 % 100}.5,{('a', 'b')[i % 2]}" for i in range(500)]
    return ("id,k,amount,flag\n" + "\n".join(rows) + "\n").encode()


def test_pack_verify_unpack_round_trip(seid: SeidRunner, tmp_path: Path) -> None:
    src = tmp_path / "data.csv"
    src.write_bytes(csv_bytes())
    packed = seid("artifact", "pack", src, tmp_path / "data.seid")
    assert packed.code == 0, packed.err
    assert "columns+xz" in packed.out
    checked = seid("artifact", "verify", tmp_path / "data.seid")
    assert checked.code == 0, checked.err
    digest = checked.out.split()[0]
    unpacked = seid("artifact", "unpack", tmp_path / "data.seid", tmp_path / "back.csv")
    assert unpacked.code == 0, unpacked.err
    assert (tmp_path / "back.csv").read_bytes() == src.read_bytes()
    sha = subprocess.run(["sha256sum", str(src)], capture_output=True, text=True, check=True)
    assert sha.stdout.split()[0] == digest == unpacked.out.split()[0]


def test_verify_names_each_bad_container_and_exits_1(seid: SeidRunner, tmp_path: Path) -> None:
    good = tmp_path / "good.seid"
    (tmp_path / "w.bin").write_bytes(b"weights" * 500)
    assert seid("artifact", "pack", tmp_path / "w.bin", good).code == 0
    flipped = tmp_path / "flipped.seid"
    raw = bytearray(good.read_bytes())
    raw[-5] ^= 0xFF
    flipped.write_bytes(bytes(raw))
    result = seid("artifact", "verify", good, flipped)
    assert_one_line_error(result, "flipped.seid", code=1)
    assert "good.seid" in result.out and "flipped.seid" not in result.out


def test_unpack_of_a_tampered_container_writes_nothing(seid: SeidRunner, tmp_path: Path) -> None:
    (tmp_path / "m.bin").write_bytes(os.urandom(3000))
    assert seid("artifact", "pack", tmp_path / "m.bin", tmp_path / "m.seid").code == 0
    raw = (tmp_path / "m.seid").read_bytes()
    (tmp_path / "m.seid").write_bytes(raw[:-100])
    out = tmp_path / "out"
    out.mkdir()
    result = seid("artifact", "unpack", tmp_path / "m.seid", out / "m.bin")
    assert_one_line_error(result, "m.seid", "decodes to", code=1)
    assert list(out.iterdir()) == []


def test_not_a_container(seid: SeidRunner, tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("hello\n")
    result = seid("artifact", "verify", tmp_path / "plain.txt")
    assert_one_line_error(result, "plain.txt", "not a seid artifact container", code=1)


def test_unwritable_destination_is_one_line(seid: SeidRunner, tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"x" * 100)
    result = seid("artifact", "pack", tmp_path / "a.bin", tmp_path / "missing-dir" / "a.seid")
    assert_one_line_error(result, "missing-dir", code=2)


def test_artifact_commands_do_not_import_mlflow(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"abc" * 1000)
    args = ["artifact", "pack", str(tmp_path / "a.bin"), str(tmp_path / "a.seid")]
    code = (
        "import sys\n"
        "from seid.cli.main import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "assert 'mlflow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_verify_a_store_directory_checks_digest_records(seid: SeidRunner, tmp_path: Path) -> None:
    from seid import container
    from seid.container import records

    root = tmp_path / "store"
    (root / "run" / "model").mkdir(parents=True)
    for name, data in [("run/metrics.json", b'{"auc": 0.9}\n'), ("run/model/w.bin", b"w" * 999)]:
        src = tmp_path / "in"
        src.write_bytes(data)
        target = root / name
        records.write_record(target, container.pack(src, target), target.name, None, None)
    assert seid("artifact", "verify", root).code == 0
    # a valid container of another artifact put in place of the metrics
    shutil.copyfile(root / "run" / "model" / "w.bin", root / "run" / "metrics.json")
    result = seid("artifact", "verify", root)
    assert_one_line_error(result, "metrics.json", "container of another artifact", code=1)
    assert "w.bin" in result.out and ".seid-digest" not in result.out


def _run_on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, bytes]:
    """The CLI with stderr on a pseudo-terminal, as a person at a shell sees it."""
    import os
    import pty
    import subprocess
    import sys

    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "seid", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=child,
    )
    os.close(child)
    seen = b""
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:  # the child closed its end
            break
        if not data:
            break
        seen += data
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    return proc.wait(timeout=60), out, seen


def test_progress_on_a_terminal_and_nothing_extra_when_piped(
    seid: SeidRunner, tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / "w.bin").write_bytes(bytes(range(256)) * 40_000)
    code, out, terminal = _run_on_a_terminal(["artifact", "pack", "w.bin", "w.seid"], tmp_path, env)
    assert code == 0 and "w.seid" in out
    # a transfer speed (rich picks the unit by the machine's speed) and the stage
    assert re.search(rb"[0-9.]+ [kMG]?B/s", terminal) and b"packing" in terminal
    code, _, terminal = _run_on_a_terminal(["artifact", "unpack", "w.seid", "b.bin"], tmp_path, env)
    assert code == 0 and b"unpacking" in terminal
    piped = seid("artifact", "pack", "w.bin", "w2.seid", cwd=tmp_path)
    assert piped.code == 0 and piped.err == ""
    assert piped.out.count("\n") == 1


def test_level_option_and_a_bad_level_in_the_environment(seid: SeidRunner, tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_bytes(b"".join(b"row %d\n" % (i % 300) for i in range(20_000)))
    assert "(zstd," in seid("artifact", "pack", "t.txt", "b.seid", cwd=tmp_path).out
    maxed = seid("artifact", "pack", "--level", "max", "t.txt", "m.seid", cwd=tmp_path)
    assert maxed.code == 0
    assert (tmp_path / "m.seid").stat().st_size < (tmp_path / "b.seid").stat().st_size
    bad = seid(
        "artifact", "pack", "t.txt", "x.seid", cwd=tmp_path, extra_env={"SEID_ARTIFACT_LEVEL": "x"}
    )
    assert_one_line_error(bad, "SEID_ARTIFACT_LEVEL", "'x'")
    assert not (tmp_path / "x.seid").exists()


def test_reading_a_store_loads_no_signing_library(tmp_path: Path) -> None:
    """The MLflow artifact plugin imports the store in every training process: signing
    and key handling load only when a record is signed or a key is looked for."""
    code = (
        "import sys\n"
        "import seid.container.store\n"
        "assert 'securesystemslib' not in sys.modules, 'securesystemslib'\n"
        "assert 'cryptography' not in sys.modules, 'cryptography'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
