"""Where every artefact lives under the data root (the DESIGN.md contract)."""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from sopilot_pipeline.core.base.atomic import atomic_write_text

ADAPTER_PATTERN = re.compile(
    r"^feature_adapter_(?P<embedder>[A-Za-z0-9_.-]+)_(?P<ts>\d{8}T\d{6}\d*Z)\.npz$"
)


@dataclass(frozen=True)
class DataLayout:
    root: Path

    @property
    def watch(self) -> Path:
        return self.root / "watch"

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def embeddings(self) -> Path:
        return self.root / "embeddings"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    @property
    def index(self) -> Path:
        """Clip similarity indexes, one per embedder (``core/store/search.py``)."""
        return self.root / "index"

    @property
    def audit_log(self) -> Path:
        """Append-only, hash-chained log of every score (``core/store/audit.py``)."""
        return self.root / "audit" / "audit_log.jsonl"

    def raw_video(self, sha256: str, suffix: str) -> Path:
        return self.raw / f"{sha256}{suffix.lower()}"

    def first_registration(self, sha256: str) -> Path:
        """Which video was registered first with this content (duplicates point to it)."""
        return self.raw / "by_sha256" / f"{sha256}.json"

    def registration(self, role: str, key: str) -> Path:
        return self.raw / role / f"{key}.json"

    def clip_vectors(self, role: str, key: str) -> Path:
        return self.embeddings / role / f"{key}.npy"

    def clip_meta(self, role: str, key: str) -> Path:
        return self.embeddings / role / f"{key}.json"

    def gold_step_details(self, gold_key: str) -> Path:
        """How a gold's steps were made (authored or detected) and their weights."""
        return self.embeddings / "gold_steps" / f"{gold_key}.json"

    def alignment(self, trainee_key: str) -> Path:
        return self.embeddings / "alignments" / f"{trainee_key}.npz"

    def table_file(self, table: str, task_id: str, key: str) -> Path:
        return self.tables / table / f"task_id={safe_dir_name(task_id)}" / f"{key}.parquet"

    def table_glob(self, table: str) -> str:
        return str(self.tables / table / "**" / "*.parquet")

    def deviation_clips(self, task_id: str, trainee_key: str) -> Path:
        """Folder of the deviation clips of one trainee video."""
        return self.root / "clips" / safe_dir_name(task_id) / trainee_key

    def report(self, task_id: str, trainee_key: str) -> Path:
        return self.reports / safe_dir_name(task_id) / f"{trainee_key}.pdf"

    def adapter_file(self, embedder: str, timestamp: str) -> Path:
        return self.models / f"feature_adapter_{embedder}_{timestamp}.npz"

    def latest_adapter(self, embedder: str) -> Path | None:
        """Newest adapter file for ``embedder`` (timestamps sort lexically)."""
        if not self.models.is_dir():
            return None
        found = sorted(
            p
            for p in self.models.iterdir()
            if (m := ADAPTER_PATTERN.match(p.name)) and m["embedder"] == embedder
        )
        return found[-1] if found else None

    def ensure(self) -> None:
        for d in (self.watch, self.raw, self.embeddings, self.models, self.reports, self.tables):
            d.mkdir(parents=True, exist_ok=True)


MAX_NAME_BYTES = 255  # one path component, on every common file system


def safe_dir_name(name: str) -> str:
    """Percent-encode a task id for use as one folder name (hive readers decode it).

    A task id whose encoding passes ``MAX_NAME_BYTES`` is rejected at registration
    (``task_id_problem``); its rejection row goes under a shortened name (the encoding
    cut short plus a hash), so that nothing is ever built from a path the OS refuses."""
    encoded = urllib.parse.quote(name, safe=" ")
    if len(encoded) <= MAX_NAME_BYTES:
        return encoded
    digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    head = encoded[:200]
    cut = head.rfind("%", len(head) - 2)  # never end inside a %XX escape
    return f"{head[:cut] if cut >= 0 else head}~{digest}"


def task_id_problem(task_id: str) -> str | None:
    """Why a task id cannot name the task's folders under the data root, if it cannot."""
    size = len(urllib.parse.quote(task_id, safe=" "))
    if size > MAX_NAME_BYTES:
        return (
            f"task id too long: its folder name under tables/ and reports/ would be {size} "
            f"bytes, more than the {MAX_NAME_BYTES} a file system allows"
        )
    return None


def write_json(path: Path, payload: dict) -> None:
    atomic_write_text(path, json.dumps(payload, indent=1, sort_keys=True, ensure_ascii=False))


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
