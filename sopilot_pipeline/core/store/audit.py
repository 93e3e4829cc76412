"""Audit trail: an append-only log of every score, and HMAC-signed exports of it.

Each score appends one JSON line to ``audit/audit_log.jsonl`` under an exclusive file
lock, so parallel runs never interleave or lose a line. Every line carries the SHA-256
of the line before it, so an edit, a deletion or a reordering inside the log breaks the
chain. An export signs each record with HMAC-SHA256 under ``SOPILOT_AUDIT_KEY``,
chained to the previous record's signature, and ends with a trailer that signs the
record count, so a changed, removed, reordered, added or truncated record is detected by
``verify_export``. The key is only ever passed in; nothing here logs or stores it.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
EXPORT_FORMAT = "sopilot-audit-export/1"


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def append_audit_record(log: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Append ``record`` (plus ``seq``, ``recorded_at`` and ``prev_sha256``) to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
    with os.fdopen(fd, "r+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.seek(0)
            lines = f.read().splitlines()
            prev = hashlib.sha256(lines[-1]).hexdigest() if lines else GENESIS
            full = {
                **record,
                "seq": len(lines) + 1,
                "recorded_at": datetime.now(UTC).isoformat(timespec="microseconds"),
                "prev_sha256": prev,
            }
            f.write(_canonical(full) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    return full


def read_audit_log(log: Path) -> list[dict[str, Any]]:
    """The log's records, after checking its hash chain (raises ``AuditError``)."""
    if not log.exists():
        return []
    records, prev = [], GENESIS
    for n, line in enumerate(log.read_bytes().splitlines(), start=1):
        record = json.loads(line)
        if record.get("prev_sha256") != prev or record.get("seq") != n:
            raise AuditError(f"audit log broken at line {n}: chain or sequence mismatch")
        records.append(record)
        prev = hashlib.sha256(line).hexdigest()
    return records


class AuditError(ValueError):
    """The audit log or an export does not verify; the message says where."""


def _mac(key: bytes, payload: bytes, previous: str) -> str:
    return hmac.new(key, previous.encode() + b"\n" + payload, hashlib.sha256).hexdigest()


def export_lines(records: list[dict[str, Any]], key: bytes) -> Iterator[str]:
    """The signed export, line by line: a header, one line per record, a trailer."""
    if not key:
        raise AuditError("SOPILOT_AUDIT_KEY is empty: an export needs a signing key")
    header = {
        "format": EXPORT_FORMAT,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "records": len(records),
    }
    previous = _mac(key, _canonical(header), GENESIS)
    yield json.dumps({"header": header, "hmac": previous}, sort_keys=True)
    for record in records:
        previous = _mac(key, _canonical(record), previous)
        yield json.dumps({"record": record, "hmac": previous}, sort_keys=True)
    trailer = {"end": len(records)}
    yield json.dumps({"trailer": trailer, "hmac": _mac(key, _canonical(trailer), previous)})


@dataclass(frozen=True)
class Verified:
    records: int
    exported_at: str


def verify_export(lines: list[str], key: bytes) -> Verified:
    """Check every signature and the record count; raise ``AuditError`` naming the line."""
    if not key:
        raise AuditError("SOPILOT_AUDIT_KEY is empty: cannot verify without the signing key")
    if len(lines) < 2:
        raise AuditError("not an audit export: no header and trailer")
    previous, count, exported_at = GENESIS, 0, ""
    for n, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            (kind,) = set(entry) - {"hmac"}
            payload = entry[kind]
            claimed = entry["hmac"]
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditError(f"line {n}: not an audit export line") from exc
        expected = _mac(key, _canonical(payload), previous)
        if not hmac.compare_digest(expected, str(claimed)):
            raise AuditError(f"line {n}: signature mismatch (changed, moved or wrong key)")
        if (n == 1) != (kind == "header") or (kind == "trailer") != (n == len(lines)):
            raise AuditError(f"line {n}: {kind} out of place")
        if kind == "header":
            if payload.get("format") != EXPORT_FORMAT:
                raise AuditError(f"line 1: unknown format {payload.get('format')!r}")
            exported_at = payload["exported_at"]
            declared = payload["records"]
        elif kind == "record":
            count += 1
        elif payload.get("end") != count or count != declared:
            raise AuditError(f"line {n}: {count} records, but {declared} were exported")
        previous = expected
    return Verified(records=count, exported_at=exported_at)
