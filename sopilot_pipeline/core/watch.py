"""Watch-folder scanning: which files are new, which are still being written.

A file is *ready* once its size and mtime are unchanged since the previous scan and
it has been hashed; the sha256 is cached per (size, mtime) so a file is read once.
Pure file-system logic so that the sensor stays a thin wrapper.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sopilot_pipeline.core.keys import ROLES, is_video_file_name, video_partition_key

_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class WatchedFile:
    role: str
    task_id: str
    file_name: str
    path: Path
    size: int
    mtime_ns: int
    outside: bool = False  # a link that leads out of the watch folder: never read

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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve(strict=True).relative_to(root.resolve())
        return True
    except (OSError, ValueError):
        return False


def scan_watch_folder(watch_dir: Path) -> Iterator[WatchedFile]:
    """Video files under ``watch/<task_id>/{gold,trainee}/``; others are ignored.

    Links that resolve outside the watch folder are listed with ``outside=True`` and
    their own (link) size and time, so they can be rejected with a reason while nothing
    outside the data root is ever read.
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
                            continue  # vanished or dangling
                        if not path.is_file():
                            continue
                        yield WatchedFile(
                            role, task.name, entry.name, path, st.st_size, st.st_mtime_ns
                        )


def advance_watch_state(
    previous: dict[str, list], files: list[WatchedFile], hash_budget_sec: float | None = None
) -> tuple[dict[str, list], list[ReadyFile], list[WatchedFile]]:
    """One scan step. ``previous`` maps rel path -> [size, mtime_ns, sha256 | None, mark].

    ``mark`` belongs to the caller (the sensor keeps the last run key it requested for
    the file there); it is kept while the file is unchanged. Hashing stops once
    ``hash_budget_sec`` is spent: the rest are hashed on later ticks, so a thousand files
    dropped at once never push a tick past the sensor's time limit.
    Returns the new state, the ready files, and files still settling or not yet hashed.
    """
    started = time.perf_counter()
    hashed = 0
    state: dict[str, list] = {}
    ready: list[ReadyFile] = []
    settling: list[WatchedFile] = []
    for f in files:
        before = previous.get(f.rel)
        if before is None or before[0] != f.size or before[1] != f.mtime_ns:
            state[f.rel] = [f.size, f.mtime_ns, None, None]
            settling.append(f)
            continue
        sha = before[2]
        if sha is None and f.outside:
            sha = "outside:" + hashlib.sha256(f.rel.encode()).hexdigest()  # never read
        if sha is None:
            spent = time.perf_counter() - started
            if hash_budget_sec is not None and hashed and spent > hash_budget_sec:
                state[f.rel] = [f.size, f.mtime_ns, None, None]
                settling.append(f)
                continue
            try:
                sha = sha256_file(f.path)
            except OSError:
                continue  # deleted between listing and hashing: forget it
            hashed += 1
        mark = before[3] if len(before) > 3 else None
        state[f.rel] = [f.size, f.mtime_ns, sha, mark]
        ready.append(ReadyFile(f, sha))
    return state, ready, settling
