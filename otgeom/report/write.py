"""Write a report atomically: the file appears only when complete, and a failed run leaves nothing.

Everything is rendered in memory first (a formula that cannot be typeset fails before the disk
is touched).  Each file is then written to a temporary file beside its target and moved into place
with :func:`os.replace` (atomic on one file system): the figures (``<stem>-figures/``, SVG for md,
PDF for tex, so both formats share the directory) first, the report last, so a reader never sees
a report whose figures are missing, and an interrupted run leaves the previous file untouched.

Targets are regular files only: an existing symbolic link, directory, device node, FIFO or socket at
the report's path (or at a figure's) is refused, and so is a ``<stem>-figures`` that is not a plain
directory; :func:`check_output_path` checks this before any computation.  A temporary file is removed
on any exception, including KeyboardInterrupt and the command line's SIGTERM exception; SIGINT and
SIGTERM are held while a temporary file is being created or removed, so none can be left behind.
"""
from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

from otgeom.errors import ReportError
from otgeom.report.document import Report
from otgeom.report.render import figure_dir_name, figure_file, render

__all__ = ["check_output_path", "write_report", "write_rendered"]

#: test hook: seconds to sleep between writing a temporary file and renaming it (makes signal tests deterministic)
_DELAY_ENV = "OTGEOM_TEST_WRITE_DELAY"


def _show(path: str | os.PathLike) -> str:
    """A path for a message, shortened beyond 200 characters."""
    text = str(path)
    return text if len(text) <= 200 else f"{text[:120]}...{text[-60:]} ({len(text)} characters)"


def _kind(mode: int) -> str | None:
    """What a non-regular file is, or None for a regular file."""
    for test, kind in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return None if stat.S_ISREG(mode) else "not a regular file"


def _check_target(path: Path, what: str) -> None:
    """``path`` is absent or a regular file (never followed if it is a link), with a usable name."""
    if "\0" in str(path):
        raise ReportError(f"cannot write {what} {_show(path)!r}: a file name cannot contain a null byte")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ReportError(f"cannot write {what} {_show(path)}: {exc.strerror}") from None
    if st is not None and (kind := _kind(st.st_mode)) is not None:
        if stat.S_ISLNK(st.st_mode):
            raise ReportError(f"cannot write {what} {_show(path)}: it is a symbolic link (to "
                              f"{_show(os.readlink(path))}); -o writes only regular files: give the target's own path")
        raise ReportError(f"cannot write {what} {_show(path)}: it is {kind}; -o writes only regular files")
    try:
        name_max = os.pathconf(path.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(os.fsencode(path.name)) + 16 > name_max:  # the temporary file's name is ".NAME.XXXXXXXX.tmp"
        raise ReportError(f"cannot write {what} {_show(path)}: the file name is too long "
                          f"(at most {name_max - 16} bytes)")


def check_output_path(path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Fail early (before any computation) when ``path`` cannot be written; return it as a Path.

    Checks the directory (exists, writable), the target (absent or a regular file, see the module
    docstring) and, for ``md`` and ``tex``, the figures directory ``<stem>-figures`` (absent or a plain,
    writable directory); with ``fmt=None`` the figures are checked by :func:`write_rendered`.
    """
    if not str(path):
        raise ReportError("cannot write report: the output path is empty")
    path = Path(path)
    parent = path.parent
    try:
        if path.is_dir() and not path.is_symlink():
            raise ReportError(f"cannot write report {_show(path)}: it is a directory")
        if not parent.is_dir():
            raise ReportError(f"cannot write report {_show(path)}: directory {_show(parent)} does not exist")
    except OSError as exc:  # e.g. a name that is too long
        raise ReportError(f"cannot write report {_show(path)}: {exc.strerror}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ReportError(f"cannot write report {_show(path)}: directory {_show(parent)} is not writable")
    _check_target(path, "report")
    if fmt in ("md", "tex"):
        figures = parent / figure_dir_name(path.stem)
        try:
            st = os.lstat(figures)
        except FileNotFoundError:
            return path
        except OSError as exc:
            raise ReportError(f"cannot write the figures of {_show(path)} to {_show(figures)}: "
                              f"{exc.strerror}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise ReportError(f"cannot write the figures of {_show(path)}: {_show(figures)} exists and is "
                              f"{_kind(st.st_mode) or 'a regular file'}, not a directory")
        if not os.access(figures, os.W_OK | os.X_OK):
            raise ReportError(f"cannot write the figures of {_show(path)}: directory {_show(figures)} is not writable")
    return path


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM (delivered on exit) so a temporary file is never created or removed half-way."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _atomic_write(path: Path, data: bytes) -> Path:
    """Write to a temporary file in the same directory, then rename over ``path``; clean up on any failure."""
    tmp = None
    try:
        with _signals_held():
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        if os.environ.get(_DELAY_ENV):
            time.sleep(float(os.environ[_DELAY_ENV]))
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with _signals_held(), contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    return path


def write_report(rep: Report, fmt: str, path: str | os.PathLike) -> list[Path]:
    """Render ``rep`` as ``fmt`` and write it to ``path`` (plus ``<stem>-figures/`` for md and tex).

    Returns the paths written.  Raises :class:`~otgeom.errors.ReportError` on a file-system error,
    leaving any previous report at ``path`` untouched.
    """
    path = check_output_path(path, fmt)
    return write_rendered(rep, fmt, path, render(rep, fmt, path.stem))


def write_rendered(rep: Report, fmt: str, path: str | os.PathLike, text: str) -> list[Path]:
    """Write ``text`` (``render(rep, fmt, Path(path).stem)``) and the figures of ``rep``, atomically.

    Every target is checked before the first byte is written.
    """
    path = check_output_path(path, fmt)
    figures = [] if fmt == "html" else [(figure_file(f, fmt), f.pdf if fmt == "tex" else f.svg.encode("utf-8"))
                                        for f in rep.figures]
    figure_dir = path.parent / figure_dir_name(path.stem)
    for name, _ in figures:
        _check_target(figure_dir / name, "figure")
    written = []
    made_dir = False
    try:
        if figures and not figure_dir.is_dir():
            figure_dir.mkdir()
            made_dir = True
        for name, data in figures:
            written.append(_atomic_write(figure_dir / name, data))
        written.insert(0, _atomic_write(path, text.encode("utf-8")))
    except BaseException as exc:
        if made_dir and not written:
            with contextlib.suppress(OSError):
                figure_dir.rmdir()
        if isinstance(exc, OSError):
            raise ReportError(f"cannot write report {_show(path)}: {exc.strerror or exc}") from None
        raise
    return written
