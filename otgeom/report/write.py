"""Write a report atomically: the file appears only when complete, and a failed run leaves nothing.

Everything is rendered in memory first (a formula that cannot be typeset fails before the disk
is touched).  Each file is then written to a temporary file beside its target and moved into place
with :func:`os.replace` (atomic on one file system): the figures (``<stem>-figures/``, SVG for md,
PDF for tex, so both formats share the directory) first, the report last, so a reader never sees
a report whose figures are missing, and an interrupted run leaves the previous file untouched.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from otgeom.errors import ReportError
from otgeom.report.document import Report
from otgeom.report.render import figure_dir_name, figure_file, render

__all__ = ["check_output_path", "write_report", "write_rendered"]


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail early (before any computation) when ``path`` cannot be written; return it as a Path."""
    path = Path(path)
    parent = path.parent
    if path.is_dir():
        raise ReportError(f"cannot write report {path}: it is a directory")
    if not parent.is_dir():
        raise ReportError(f"cannot write report {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ReportError(f"cannot write report {path}: directory {parent} is not writable")
    return path


def _atomic_write(path: Path, data: bytes) -> Path:
    """Write to a temporary file in the same directory, then rename over ``path``; clean up on any failure."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_report(rep: Report, fmt: str, path: str | os.PathLike) -> list[Path]:
    """Render ``rep`` as ``fmt`` and write it to ``path`` (plus ``<stem>-figures/`` for md and tex).

    Returns the paths written.  Raises :class:`~otgeom.errors.ReportError` on a file-system error,
    leaving any previous report at ``path`` untouched.
    """
    path = check_output_path(path)
    return write_rendered(rep, fmt, path, render(rep, fmt, path.stem))


def write_rendered(rep: Report, fmt: str, path: str | os.PathLike, text: str) -> list[Path]:
    """Write ``text`` (``render(rep, fmt, Path(path).stem)``) and the figures of ``rep``, atomically."""
    path = check_output_path(path)
    figures = [] if fmt == "html" else [(figure_file(f, fmt), f.pdf if fmt == "tex" else f.svg.encode("utf-8"))
                                        for f in rep.figures]
    figure_dir = path.parent / figure_dir_name(path.stem)
    written = []
    try:
        if figures:
            figure_dir.mkdir(exist_ok=True)
            for name, data in figures:
                written.append(_atomic_write(figure_dir / name, data))
        written.insert(0, _atomic_write(path, text.encode("utf-8")))
    except OSError as exc:
        raise ReportError(f"cannot write report {path}: {exc.strerror or exc}") from None
    return written
