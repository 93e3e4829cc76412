"""Partition keys for watch-folder files.

Task ids and file names may be any UTF-8 text, but Dagster partition keys (and the
file names we derive from them) must avoid separators, brackets, ``...`` and control
characters. A key is a readable slug plus a short hash of the exact original names,
so it is safe, stable across runs and unique even when two names slug alike.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".mpg"})
ROLES: tuple[str, str] = ("gold", "trainee")

_SLUG_MAX = 40
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def slugify(text: str, max_len: int = _SLUG_MAX) -> str:
    """ASCII-only, separator-free rendering of ``text`` (may be empty)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _UNSAFE.sub("_", ascii_text).strip("_")
    return slug[:max_len].strip("_")


def video_partition_key(task_id: str, file_name: str) -> str:
    """Key of the video ``file_name`` of task ``task_id``: ``<task>__<stem>__<hash10>``."""
    digest = hashlib.sha1(f"{task_id}\x00{file_name}".encode("utf-8", "surrogatepass")).hexdigest()
    stem = file_name.rsplit(".", 1)[0] if "." in file_name else file_name
    return f"{slugify(task_id) or 'task'}__{slugify(stem) or 'video'}__{digest[:10]}"


def is_video_file_name(file_name: str) -> bool:
    """True for names with one of the watch folder's video extensions (any case)."""
    dot = file_name.rfind(".")
    return dot > 0 and file_name[dot:].lower() in VIDEO_EXTENSIONS
