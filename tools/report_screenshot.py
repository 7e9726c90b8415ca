"""Make the README's screenshot of the audit report's first page (the risk register).

Runs the loan scenario as ``seid demo`` does (real DVC, V1 failing, the V2 treatment
passing), writes ``seid reconstruct --format html`` signed with the demo's key, and
photographs the page's top in Debian's headless Chromium. The PNG is reduced to a
palette (Pillow, when installed) to stay small in the repository.

    .venv/bin/python tools/report_screenshot.py [--out docs/report-register.png]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from seid.demo import DEMO_KEY, walkthrough

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
WINDOW = (1100, 1500)  # CSS pixels: the header, the register table and the matrix's top


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report-register.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seid-shot-") as tmp:
        repo = Path(tmp) / "loan"
        if walkthrough(repo, "dvc", lambda step: print(f"{step.title:>9}  {step.detail}")):
            print("the demo did not finish; no screenshot", file=sys.stderr)
            return 1
        env = {**os.environ, "SEID_SIGNING_KEY": str(repo / DEMO_KEY)}
        audit = Path(tmp) / "audit"
        subprocess.run(
            [sys.executable, "-m", "seid", "reconstruct", "--format", "html", "--out", audit],
            cwd=repo,
            env=env,
            check=True,
        )
        shot = Path(tmp) / "shot.png"
        subprocess.run(
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--window-size={WINDOW[0]},{WINDOW[1]}",
                f"--screenshot={shot}",
                (audit / "reconstruct.html").as_uri(),
            ],
            check=True,
            capture_output=True,
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(_small(shot))
    print(f"{args.out}: {args.out.stat().st_size // 1024} KiB")
    return 0


def _small(png: Path) -> bytes:
    """A 64-colour palette PNG when Pillow is there (text and flat fills survive it)."""
    try:
        from PIL import Image
    except ImportError:
        return png.read_bytes()
    out = png.with_suffix(".small.png")
    with Image.open(png) as image:
        image.convert("RGB").quantize(colors=64).save(out, optimize=True)
    return out.read_bytes()


if __name__ == "__main__":
    sys.exit(main())
