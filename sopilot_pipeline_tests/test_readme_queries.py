"""Every example query in the README's *Tables* section, run on a real pipeline run, in
polars and in DuckDB, and the two engines agree."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl
import pytest

from sopilot_pipeline_tests.conftest import PipelineRun

README = Path(__file__).resolve().parents[1] / "README.md"


def _section_blocks(language: str) -> list[str]:
    text = README.read_text()
    section = text[text.index("## Tables") : text.index("\n## ", text.index("## Tables") + 5)]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def results(
    pipeline_run: PipelineRun, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict, list[pl.DataFrame]]:
    (python,) = _section_blocks("python")
    (sql,) = _section_blocks("sql")
    root = tmp_path_factory.mktemp("analyst")
    (root / "data").symlink_to(pipeline_run.data)  # the README's queries read data/tables
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        namespace: dict = {}
        exec(compile(python, "README.md", "exec"), namespace)  # noqa: S102 - our own README
        statements = [
            q
            for q in sql.split(";")
            if q.strip() and not q.strip().startswith("--") or "select" in q.lower()
        ]
        con = duckdb.connect()
        frames = [con.sql(q).pl() for q in statements if q.strip()]
    return namespace, frames


def test_the_readme_has_three_queries_per_engine(results: tuple[dict, list[pl.DataFrame]]) -> None:
    namespace, frames = results
    assert {"weekly", "most_missed", "below"} <= set(namespace)
    assert len(frames) == 3


def test_mean_score_per_task_per_week(
    results: tuple[dict, list[pl.DataFrame]], pipeline_run: PipelineRun
) -> None:
    weekly, duck = results[0]["weekly"], results[1][0]
    assert set(weekly["task_id"]) == set(pipeline_run.truth)
    assert weekly["trainees"].sum() == 10
    joined = weekly.join(duck, on="task_id", suffix="_duck")
    assert joined["mean_score"].to_list() == pytest.approx(joined["mean_score_duck"].to_list())


def test_most_missed_step_per_task(
    results: tuple[dict, list[pl.DataFrame]], pipeline_run: PipelineRun
) -> None:
    most_missed, duck = results[0]["most_missed"], results[1][1]
    assert set(most_missed["task_id"]) == set(pipeline_run.truth)  # each task misses a step
    assert most_missed.sort("task_id").select("task_id", "gold_step", "times_missed").rows() == (
        duck.sort("task_id").select("task_id", "gold_step", "times_missed").rows()
    )


def test_trainees_below_a_threshold(results: tuple[dict, list[pl.DataFrame]]) -> None:
    below, duck = results[0]["below"], results[1][2]
    assert (below["score"] < 70).all()
    assert below["score"].to_list() == sorted(below["score"].to_list())
    assert below["trainee_video"].to_list() == duck["trainee_video"].to_list()
