"""The production instance: deploy/dagster.postgres.yaml on a real PostgreSQL server,
with the sensor, materialisations and two runs writing tables in parallel."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance

from sopilot_pipeline.core.store.audit import read_audit_log
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.process import process_watch_folder
from sopilot_pipeline_tests.postgres_server import postgres_database
from sopilot_pipeline_tests.range_runs import run_ranges

REPO = Path(__file__).resolve().parents[1]

PARALLEL_RUN = """
import sys
from dagster import AssetKey, DagsterInstance
from dagster._core.storage import tags
from sopilot_pipeline.definitions import defs
job = defs.resolve_job_def("score_trainee_video")
result = job.execute_in_process(
    instance=DagsterInstance.get(),
    tags={
        tags.ASSET_PARTITION_RANGE_START_TAG: sys.argv[1],
        tags.ASSET_PARTITION_RANGE_END_TAG: sys.argv[2],
    },
    asset_selection=[AssetKey("trainee_alignment"), AssetKey("trainee_score")],
    raise_on_error=False,
)
sys.exit(0 if result.success else 1)
"""


@pytest.fixture(scope="module")
def postgres_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    with postgres_database() as url:
        home = tmp_path_factory.mktemp("pg_home")
        shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
        yield home, url


def test_pipeline_and_parallel_runs_on_postgres(
    postgres_home: tuple[Path, str],
    demo_watch: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home, url = postgres_home
    monkeypatch.setenv("SOPILOT_POSTGRES_URL", url)
    instance = DagsterInstance.from_config(str(home))
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert instance.run_monitoring_enabled and instance.run_retries_enabled

    data = tmp_path / "data"
    shutil.copytree(demo_watch / "pack_first_aid_kit", data / "watch" / "pack_first_aid_kit")
    settings = SopilotSettings(data_dir=str(data))
    outcome = process_watch_folder(settle_seconds=0.1, settings=settings, instance=instance)
    assert outcome.failed_runs == [] and outcome.succeeded_runs >= 2
    keys = instance.get_dynamic_partitions("trainee_videos")
    assert len(keys) == 5
    assert instance.get_materialized_partitions(AssetKey("trainee_score")) == set(keys)
    scores_before = pl.read_parquet(str(data / "tables/scores/**/*.parquet"))
    assert len(scores_before) == 5

    # two runs at once, each re-scoring its own range, both writing tables and the audit
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SOPILOT_DATA_DIR": str(data),
        "SOPILOT_POSTGRES_URL": url,
    }
    ranges = [(keys[0], keys[1]), (keys[2], keys[4])]
    done = run_ranges(PARALLEL_RUN, ranges, env, timeout=300)
    assert [rc for rc, _ in done] == [0, 0], "\n".join(out[-3000:] for _, out in done)

    scores = pl.read_parquet(str(data / "tables/scores/**/*.parquet"))
    assert sorted(scores["trainee_video"]) == sorted(scores_before["trainee_video"])
    assert (scores["scored_at"] > scores_before["scored_at"].max()).all()  # all rewritten
    audit = [r for r in read_audit_log(settings.layout.audit_log) if r["event"] == "score"]
    assert len(audit) == 10  # 5 first, then 5 from the two parallel runs: none lost
    fresh = DagsterInstance.from_config(str(home))
    records = fresh.fetch_materializations(AssetKey("trainee_score"), limit=100).records
    assert len(records) == 10
    assert {r.partition_key for r in records} == set(keys)


def test_the_fallback_throwaway_cluster_works() -> None:
    """Used when no server listens on 127.0.0.1:5432: initdb + pg_ctl from Debian."""
    from sopilot_pipeline_tests.postgres_server import _admin, _throwaway_cluster

    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip("Debian's PostgreSQL server binaries are not installed")
    with _throwaway_cluster() as url:
        _admin(url, "create table t (x int)")
        _admin(url, "insert into t values (1)")
