"""Audit trail: every score in an append-only chained log; signed exports that detect
any change."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from sopilot_pipeline.cli import main
from sopilot_pipeline.core.store.audit import (
    AuditError,
    append_audit_record,
    export_lines,
    read_audit_log,
    verify_export,
)
from sopilot_pipeline_tests.conftest import PipelineRun

KEY = "k3y-that-must-never-be-written-anywhere"


def test_every_score_is_audited_with_its_inputs(pipeline_run: PipelineRun) -> None:
    records = read_audit_log(pipeline_run.settings.layout.audit_log)
    scored = [r for r in records if r["event"] == "score"]
    assert len(scored) == 10
    for r in scored:
        assert r["who"]["run_id"] and r["who"]["user"]
        assert len(r["inputs"]["trainee_sha256"]) == 64 and len(r["inputs"]["gold_sha256"]) == 64
        assert r["embedder"] and r["adapter_version"] and 0 <= r["score"] <= 100
        assert set(r["outputs"]) == {"scores_sha256", "deviations_sha256", "report_sha256"}


def test_export_verifies_and_any_tampering_is_detected(
    pipeline_run: PipelineRun,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOPILOT_DATA_DIR", pipeline_run.settings.data_dir)
    monkeypatch.setenv("SOPILOT_AUDIT_KEY", KEY)
    export = tmp_path / "audit.jsonl"
    assert main(["export-audit", str(export)]) == 0
    assert main(["verify-audit", str(export)]) == 0
    assert "OK: 10 records" in capsys.readouterr().out

    lines = export.read_text().splitlines()
    record = json.loads(lines[3])
    record["record"]["score"] = 100.0
    tampered = {
        "a score changed": lines[:3] + [json.dumps(record)] + lines[4:],
        "a record deleted": lines[:3] + lines[4:],
        "two records swapped": lines[:2] + [lines[3], lines[2]] + lines[4:],
        "the tail cut off": lines[:-2],
        "a record duplicated": lines[:3] + [lines[3]] + lines[3:],
    }
    for why, variant in tampered.items():
        bad = tmp_path / f"{why}.jsonl"
        bad.write_text("\n".join(variant) + "\n")
        assert main(["verify-audit", str(bad)]) == 1, why
        assert "TAMPERED" in capsys.readouterr().out, why
    monkeypatch.setenv("SOPILOT_AUDIT_KEY", "another key")
    assert main(["verify-audit", str(export)]) == 1
    monkeypatch.delenv("SOPILOT_AUDIT_KEY")
    assert main(["verify-audit", str(export)]) == 2
    out = capsys.readouterr()
    # the key is never written: not in the export, the data folder or the output
    assert KEY not in out.out + out.err
    assert KEY not in export.read_text()
    for path in Path(pipeline_run.settings.data_dir).rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert KEY.encode() not in path.read_bytes(), path


def test_the_log_chain_breaks_on_an_edited_line(tmp_path: Path) -> None:
    log = tmp_path / "audit_log.jsonl"
    for i in range(3):
        append_audit_record(log, {"event": "score", "score": float(i)})
    assert [r["seq"] for r in read_audit_log(log)] == [1, 2, 3]
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], lines[1].replace('"score":1.0', '"score":9.0'), lines[2]]))
    with pytest.raises(AuditError, match="line 3"):
        read_audit_log(log)


def test_parallel_writers_never_lose_or_interleave_a_line(tmp_path: Path) -> None:
    log = tmp_path / "audit_log.jsonl"

    def write(worker: int) -> None:
        for i in range(50):
            append_audit_record(log, {"event": "score", "worker": worker, "i": i, "pad": "x" * 500})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = read_audit_log(log)  # the chain verifies, so no line was torn or reordered
    assert len(records) == 200
    assert {(r["worker"], r["i"]) for r in records} == {(w, i) for w in range(4) for i in range(50)}


def test_an_export_needs_a_key() -> None:
    with pytest.raises(AuditError, match="key"):
        list(export_lines([], b""))
    with pytest.raises(AuditError, match="key"):
        verify_export(["{}", "{}"], b"")
