"""Atomic file writes: write a sibling temp file, fsync, then rename over the target.

A reader never sees a half-written artefact, and a run killed mid-write leaves at most
a hidden ``.<name>.<random>.partial`` file, which matches no reader's glob
(``**/*.parquet`` in polars or DuckDB, ``*.npy``, ``*.json``) and no watch-folder scan.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_with(path: Path, write: Callable[[Path], None], keep_suffix: bool = False) -> Path:
    """Call ``write(tmp_path)`` then move the temp file to ``path``.

    ``keep_suffix`` ends the temp name with ``path``'s suffix, for writers that choose a
    format by extension (PyAV); the name still starts with a dot.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if keep_suffix else ".partial"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write_with(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))
