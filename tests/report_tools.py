"""Shared by the report tests: the outside programs (pdflatex, headless chromium) and how a report is checked with
them (compiled, parsed as XHTML, rendered to a screenshot)."""
from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFLATEX = shutil.which("pdflatex")


def parse_html(path: Path) -> ET.Element:
    """The page must be well-formed XML (XHTML syntax): parse it without the DOCTYPE line."""
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>\n")
    return ET.fromstring(text[len("<!DOCTYPE html>\n"):])


def compile_tex(tex: Path) -> bytes:
    """pdflatex the file where it is; the PDF's bytes (a real document: over 20 kB)."""
    proc = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tex.parent,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    pdf = tex.with_suffix(".pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 20000
    return pdf


def screenshot_ink(html: Path, workdir: Path) -> tuple[float, int]:
    """Render the page in headless chromium; (fraction of dark pixels, number of pixel rows with ink)."""
    shot = workdir / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={workdir / 'profile'}", "--hide-scrollbars", "--window-size=1000,1400",
           f"--screenshot={shot}", html.as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120)
    assert shot.exists(), "chromium wrote no screenshot"
    import matplotlib.image

    dark = matplotlib.image.imread(shot)[..., :3].mean(axis=2) < 0.5
    return float(dark.mean()), int(dark.any(axis=1).sum())
