"""The loan scenario's report in Debian's headless Chromium: the page renders (not
blank, no console error, no request, a ``<script>`` commit message shown as text) and
``--format pdf`` prints pages that ``pdftoppm`` renders non-blank."""

from __future__ import annotations

import json
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from seid import keys
from seid.demo import apply_treatment, create
from seid.run import run
from tests.conftest import SeidRunner, git

CHROMIUM = Path("/usr/bin/chromium")
SCRIPT = "<script>document.title='pwned'</script> tighten the review"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium package (/usr/bin/chromium); .ci/run installs it",
    ),
]


@pytest.fixture(scope="module")
def loan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo's story through real DVC (V1 fails, the V2 treatment passes), then a
    criteria commit whose message holds a script; and the key that signs the report."""
    base = tmp_path_factory.mktemp("loan-report")
    repo = create(base / "repo", "dvc")
    key = keys.generate(base / "keys")
    keys.add_trusted(repo, key.public_path)
    signer = keys.load_signer(key.private_path)
    git(repo, "add", ".sei/trust")
    git(repo, "commit", "-qm", "trust the key")
    assert run(repo, signer, force=True, echo=False).gate == "fail"  # type: ignore[arg-type]
    apply_treatment(repo)
    assert run(repo, signer, echo=False).gate == "pass"  # type: ignore[arg-type]
    manifest = repo / "sei.yaml"
    manifest.write_text(
        manifest.read_text().replace("review_interval: P6M", "review_interval: P3M")
    )
    git(repo, "commit", "-qam", SCRIPT)
    return repo, key.private_path


def _chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    argv = [str(CHROMIUM), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    return subprocess.run(
        [*argv, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_the_loan_report_renders_without_requests_or_script(
    loan: tuple[Path, Path], seid: SeidRunner, tmp_path: Path
) -> None:
    repo, key = loan
    out = tmp_path / "audit"
    result = seid("reconstruct", "--format", "html", "--out", out, "--key", key, cwd=repo)
    assert result.code == 0, result.err
    target = out / "reconstruct.html"
    text = target.read_text()
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in text
    assert "<script" not in text
    shot, netlog = tmp_path / "shot.png", tmp_path / "net.json"
    proc = _chromium(
        "--enable-logging=stderr",
        "--v=0",
        f"--screenshot={shot}",
        "--window-size=1200,1600",
        f"--log-net-log={netlog}",
        target.as_uri(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if "error" in line.lower()], console
    assert len(set(_png_rows(shot))) > 100  # many distinct rows: the register was drawn
    urls = _page_requests(netlog)
    assert all(u.startswith(("file:", "data:", "about:", "chrome")) for u in urls), urls
    dom = _chromium("--dump-dom", target.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<script" not in dom.stdout  # the message stayed text in the live page
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom.stdout
    assert "<title>Risk register: credit-scorer" in dom.stdout  # the title was not replaced


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler-utils (pdftoppm)")
def test_the_loan_report_prints_to_a_pdf_of_non_blank_pages(
    loan: tuple[Path, Path], seid: SeidRunner, tmp_path: Path
) -> None:
    repo, key = loan
    out = tmp_path / "audit"
    result = seid("reconstruct", "--format", "pdf", "--out", out, "--key", key, cwd=repo)
    assert result.code == 0, result.err
    pdf = out / "reconstruct.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    pages = tmp_path / "page"
    proc = subprocess.run(
        ["pdftoppm", "-r", "40", "-png", str(pdf), str(pages)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rendered = sorted(tmp_path.glob("page-*.png"))
    assert len(rendered) >= 5  # the register, then the matrix, findings and a page per risk
    for png in rendered:
        assert len(set(_png_rows(png))) > 10, png.name  # every page has something on it
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=False
    ).stdout
    first = text.split("\f")[0]
    assert "Risk register: credit-scorer" in first and "1. Register" in first
    head = git(repo, "rev-parse", "HEAD").strip()[:12]
    footers = [p for p in text.split("\f") if p.strip()]
    assert all(f"commit {head}" in p and "generated" in p for p in footers)  # every page


def _page_requests(netlog: Path) -> list[str]:
    """The URLs of the requests a page made, from Chromium's net log (one event a line).

    Chromium's own background traffic (network time, component updates, spelling
    dictionaries, accounts) runs whatever the flags and has no initiator ("not an
    origin"); anything the report asks for carries its origin ("null" for a file: page).
    """
    urls = []
    for line in netlog.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line.rstrip(","))
        except json.JSONDecodeError:
            continue
        params = event.get("params") if isinstance(event, dict) else None
        if not isinstance(params, dict) or "initiator" not in params:
            continue
        if params["initiator"] != "not an origin":
            urls.append(str(params.get("url")))
    return urls


def _png_rows(path: Path) -> list[bytes]:
    """The raw scanlines of a PNG (filter bytes included): enough to tell blank from not."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, channels = 8, b"", 0, 4
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width = int.from_bytes(body[:4], "big")
            channels = {2: 3, 6: 4, 0: 1, 4: 2}.get(body[9], 4)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    return [raw[i : i + stride] for i in range(0, len(raw), stride)]
