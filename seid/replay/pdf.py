"""``--format pdf``: the HTML report printed by headless Chromium.

The page's print stylesheet does the layout (the register first, a page per risk, the
commit and generation time in each page footer); Chromium only prints it, with its own
header and footer off. Without a Chromium on PATH the error says so in one line, and
``--format html`` still gives the page to print from any browser.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from seid.errors import SeidError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT = 180  # seconds: a long report is many pages, but a hung browser must not hang seid


def browser() -> str | None:
    """The first headless-capable Chromium on PATH."""
    return next(filter(None, map(shutil.which, BROWSERS)), None)


def print_pdf(page: str) -> bytes:
    """The PDF of ``page`` (a self-contained HTML document)."""
    exe = browser()
    if exe is None:
        raise SeidError(
            "--format pdf needs headless Chromium, and none is installed (no "
            f"{', '.join(BROWSERS)} on PATH): install chromium, or use --format html "
            "and print the page from a browser"
        )
    with tempfile.TemporaryDirectory(prefix="seid-pdf-") as tmp:
        source, target = Path(tmp) / "reconstruct.html", Path(tmp) / "reconstruct.pdf"
        source.write_text(page, encoding="utf-8", errors="backslashreplace")
        argv = [
            exe,
            "--headless=new",
            "--disable-gpu",
            "--no-first-run",
            "--no-pdf-header-footer",
            f"--user-data-dir={tmp}/profile",
            f"--print-to-pdf={target}",
            source.as_uri(),
        ]
        if os.geteuid() == 0:  # Chromium refuses to run its sandbox as root
            argv.insert(1, "--no-sandbox")
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise SeidError(f"{exe} did not print the report within {TIMEOUT} s") from None
        if proc.returncode != 0 or not target.is_file():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise SeidError(f"{exe} could not print the report (exit {proc.returncode}): {last}")
        return target.read_bytes()
