"""Watch-folder scanning: which files are new, which are still being written.

A file is *ready* once its size and mtime are unchanged since the previous scan and
it has been hashed; the sha256 is cached per (size, mtime) so a file is read once.
Pure file-system logic so that the sensor stays a thin wrapper.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sopilot_pipeline.core.base.digest import sha256_file
from sopilot_pipeline.core.watch.keys import ROLES, is_video_file_name, video_partition_key

# stand-ins for the sha256 of entries that are rejected without (further) reading
NEVER_READ = "unread:"
UNREADABLE = "unreadable:"


@dataclass(frozen=True)
class WatchedFile:
    role: str
    task_id: str
    file_name: str
    path: Path
    size: int
    mtime_ns: int
    outside: bool = False  # a link that leads out of the watch folder: never read
    not_regular: str | None = None  # "a directory", "a FIFO"...: never read

    @property
    def never_read(self) -> bool:
        return self.outside or self.not_regular is not None

    @property
    def partition_key(self) -> str:
        return video_partition_key(self.task_id, self.file_name)

    @property
    def rel(self) -> str:
        return f"{self.task_id}/{self.role}/{self.file_name}"


@dataclass(frozen=True)
class ReadyFile:
    file: WatchedFile
    sha256: str

    @property
    def rejected_unread(self) -> bool:
        """An entry that can only be rejected: a link out, not a file, or unreadable."""
        return self.sha256.startswith((NEVER_READ, UNREADABLE))


def _inside(path: Path, root: Path) -> bool:
    """False for a link out of ``root``, a dangling link, and a link loop."""
    try:
        path.resolve(strict=True).relative_to(root.resolve())
        return True
    except (OSError, ValueError, RuntimeError):  # RuntimeError: "Symlink loop"
        return False


def _kind(mode: int) -> str | None:
    """What a non-regular entry is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def scan_watch_folder(watch_dir: Path) -> Iterator[WatchedFile]:
    """Entries with a video extension under ``watch/<task_id>/{gold,trainee}/``.

    Links that resolve outside the watch folder, nowhere, or round in a loop are listed
    with ``outside=True`` and their own (link) size and time, and entries that are not
    regular files (a directory named ``x.mp4``, a FIFO) with ``not_regular``, so that
    each is rejected with a reason while none is ever read. Other names are ignored.
    """
    if not watch_dir.is_dir():
        return
    with os.scandir(watch_dir) as tasks:
        for task in sorted(tasks, key=lambda e: e.name):
            if not task.is_dir(follow_symlinks=False) or task.name.startswith("."):
                continue
            for role in ROLES:
                role_dir = Path(task.path) / role
                if not role_dir.is_dir() or role_dir.is_symlink():
                    continue
                with os.scandir(role_dir) as entries:
                    for entry in sorted(entries, key=lambda e: e.name):
                        if entry.name.startswith(".") or not is_video_file_name(entry.name):
                            continue
                        path = Path(entry.path)
                        if entry.is_symlink() and not _inside(path, watch_dir):
                            st = path.lstat()
                            yield WatchedFile(
                                role, task.name, entry.name, path, st.st_size, st.st_mtime_ns, True
                            )
                            continue
                        try:
                            st = path.stat()
                        except OSError:
                            continue  # vanished between listing and looking
                        kind = _kind(st.st_mode)
                        size = 0 if kind else st.st_size
                        yield WatchedFile(
                            role, task.name, entry.name, path, size, st.st_mtime_ns, False, kind
                        )


@dataclass
class WatchEntry:
    """What is remembered of one watch-folder file from one scan to the next."""

    size: int
    mtime_ns: int
    sha256: str | None = None  # None: not hashed yet (new, changed, or out of budget)
    # the caller's: the sensor keeps here the last run it asked for this file (``mark``)
    asked: str | None = None

    def unchanged(self, f: WatchedFile) -> bool:
        return self.size == f.size and self.mtime_ns == f.mtime_ns


def advance_watch_state(
    previous: dict[str, WatchEntry], files: list[WatchedFile], hash_budget_sec: float | None = None
) -> tuple[dict[str, WatchEntry], list[ReadyFile], list[WatchedFile]]:
    """One scan step over ``previous`` (rel path -> entry).

    An entry's ``asked`` is kept while the file is unchanged. Hashing stops once
    ``hash_budget_sec`` is spent: the rest are hashed on later ticks, so a thousand files
    dropped at once never push a tick past the sensor's time limit.
    Returns the new state, the ready files, and files still settling or not yet hashed.
    """
    started = time.perf_counter()
    hashed = 0
    state: dict[str, WatchEntry] = {}
    ready: list[ReadyFile] = []
    settling: list[WatchedFile] = []
    for f in files:
        before = previous.get(f.rel)
        if before is None or not before.unchanged(f):
            state[f.rel] = WatchEntry(f.size, f.mtime_ns)
            settling.append(f)
            continue
        sha = before.sha256
        if sha is None and f.never_read:
            sha = NEVER_READ + hashlib.sha256(f.rel.encode()).hexdigest()
        if sha is None:
            spent = time.perf_counter() - started
            if hash_budget_sec is not None and hashed and spent > hash_budget_sec:
                state[f.rel] = WatchEntry(f.size, f.mtime_ns)
                settling.append(f)
                continue
            try:
                sha = sha256_file(f.path)
            except FileNotFoundError:
                continue  # deleted between listing and hashing: forget it
            except OSError:  # permission denied, an I/O error: rejected, not skipped
                sha = UNREADABLE + hashlib.sha256(f.rel.encode()).hexdigest()
            hashed += 1
        state[f.rel] = WatchEntry(f.size, f.mtime_ns, sha, before.asked)
        ready.append(ReadyFile(f, sha))
    return state, ready, settling
