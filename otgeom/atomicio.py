"""Atomic file writing: a temporary file in the target's directory, flushed and fsynced, renamed over the target.

An interrupted or failed write leaves the previous file whole and no temporary file (saved results, training
checkpoints).  The report writer (:mod:`otgeom.report.write`) does the same for several files with signal handling.
"""
from __future__ import annotations

import os
import tempfile
from typing import IO, Callable

__all__ = ["write_atomically"]


def write_atomically(path: str | os.PathLike, write: Callable[[IO], None], binary: bool = False,
                     prefix: str = ".otgeom-", suffix: str = ".tmp") -> str:
    """Call ``write(fh)`` on a temporary file beside ``path``, then rename it to ``path``; returns the path."""
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
