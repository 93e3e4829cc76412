"""The Dagster UI on a scored instance, driven by headless Chromium (Debian's, through
Playwright): the catalog lists our assets, a trainee's partition shows its score,
timeline, report and why it was scored, a rejected file's reason is on its own
partition of ``rejected_video`` and in the ``rejected_videos`` history while the
task's lineage shows every other video done, and Materialize on one partition
launches a run that succeeds. Screenshots go to the test's temp dir; their paths are
printed. In CI a missing browser fails the test; elsewhere it skips."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sopilot_pipeline_tests.process_group import running

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class UI:
    url: str
    shots: Path
    home: Path
    clean_key: str
    broken_key: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                return
        except OSError:
            assert time.monotonic() < deadline, f"dagster dev did not answer within {timeout} s"
            time.sleep(1)


@pytest.fixture(scope="module")
def ui(demo_watch: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test, but Debian's chromium is not installed")
        pytest.skip("no chromium (apt-get install chromium)")
    root = tmp_path_factory.mktemp("ui")
    home, data = root / "home", root / "data"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    task = data / "watch" / "valve"
    shutil.copytree(demo_watch / "assemble_valve" / "gold", task / "gold")
    (task / "trainee").mkdir()
    shutil.copy(demo_watch / "assemble_valve" / "trainee" / "clean_1.mp4", task / "trainee")
    clean = (demo_watch / "assemble_valve" / "trainee" / "clean_2.mp4").read_bytes()
    (task / "trainee" / "broken.mp4").write_bytes(clean[:5000])  # cut short
    env = {**os.environ, "DAGSTER_HOME": str(home), "SOPILOT_DATA_DIR": str(data)}
    done = subprocess.run(
        [str(BIN / "sopilot-pipeline"), "process"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (clean_key,) = [p.stem for p in (data / "tables" / "scores").rglob("*.parquet")]
    (broken_key,) = [p.stem for p in (data / "tables" / "rejected_videos").rglob("*.parquet")]
    port = _free_port()
    command = [str(BIN / "dagster"), "dev", "-w", str(REPO / "workspace.yaml"), "-p", str(port)]
    with running(command, root / "dagster-dev.log", root, env):
        url = f"http://127.0.0.1:{port}"
        _wait_up(url, 180)
        yield UI(url, root / "screenshots", home, clean_key, broken_key)


@pytest.fixture
def page(ui: UI) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser.new_page(viewport={"width": 1400, "height": 1000})
        browser.close()


def _open(page, ui: UI, path: str, shot: str, expect: str) -> str:  # noqa: ANN001 - Page
    page.goto(f"{ui.url}{path}", wait_until="networkidle", timeout=120_000)
    return _shoot(page, ui, shot, expect)


def _shoot(page, ui: UI, shot: str, expect: str) -> str:  # noqa: ANN001 - Page
    page.get_by_text(expect, exact=False).first.wait_for(state="attached", timeout=120_000)
    skip = page.get_by_role("button", name="Skip")  # Dagster's newsletter prompt
    if skip.count():
        skip.first.click()
    ui.shots.mkdir(exist_ok=True)
    picture = ui.shots / f"{shot}.png"
    page.screenshot(path=str(picture), full_page=True)
    print(f"screenshot: {picture}")
    return page.inner_text("body")


def test_the_catalog_lists_our_assets(ui: UI, page) -> None:  # noqa: ANN001
    text = _open(page, ui, "/assets", "catalog", "trainee_score")
    for asset in ("gold_steps", "trainee_video", "trainee_score", "rejected_videos"):
        assert asset in text
    assert "`models/feature_adapter_<embedder>_<ts>.npz`" in text  # placeholders kept


def test_a_trainee_partition_shows_its_score_timeline_report_and_reason(
    ui: UI,
    page,  # noqa: ANN001
) -> None:
    path = f"/assets/trainee_score?view=partitions&partition={ui.clean_key}"
    text = _open(page, ui, path, "trainee_partition", "num_deviations")
    for entry in ("score", "timeline", "report", "reason", "new video"):
        assert entry in text, entry
    assert f"{ui.clean_key}.pdf" in text


def test_a_rejected_file_and_its_reason_are_in_the_ui(ui: UI, page) -> None:  # noqa: ANN001
    text = _open(page, ui, "/assets/rejected_videos?view=events", "rejected_videos", "broken")
    assert "broken.mp4" in text
    assert "not a readable video container" in text


def test_a_rejected_file_shows_its_reason_on_its_own_partition(ui: UI, page) -> None:  # noqa: ANN001
    path = f"/assets/rejected_video?view=partitions&partition={ui.broken_key}"
    text = _open(page, ui, path, "rejected_partition", "not a readable video container")
    assert ui.broken_key in text and "rejected" in text and "broken.mp4" in text


def test_the_lineage_of_a_task_with_a_rejected_file_is_all_materialised(ui: UI, page) -> None:  # noqa: ANN001
    from dagster import AssetKey, DagsterInstance

    instance = DagsterInstance.from_config(str(ui.home))
    trainees = instance.get_dynamic_partitions("trainee_videos")
    assert ui.broken_key not in trainees  # refused: out of the trainee partitions
    for asset in ("trainee_video", "trainee_clip_embeddings", "trainee_alignment"):
        assert set(instance.get_materialized_partitions(AssetKey(asset))) >= set(trainees)
    path = "/assets/trainee_score?view=lineage&lineageScope=upstream&lineageDepth=5"
    _open(page, ui, path, "lineage", "trainee_alignment")


def test_materialize_on_one_partition_launches_a_run_that_succeeds(ui: UI, page) -> None:  # noqa: ANN001
    from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

    instance = DagsterInstance.from_config(str(ui.home))
    before = {r.run_id for r in instance.get_runs()}
    path = f"/assets/trainee_score?view=partitions&partition={ui.clean_key}"
    _open(page, ui, path, "materialize_partition", "num_deviations")
    page.get_by_role("button", name="Materialize…").first.click()
    text = _shoot(page, ui, "materialize_dialog", "Launch runs to materialize")
    assert "1 partition" in text
    page.get_by_role("button", name="Launch 1 run").click()
    deadline = time.monotonic() + 240
    while True:
        runs = [
            r
            for r in instance.get_runs(RunsFilter(tags={"dagster/partition": ui.clean_key}))
            if r.run_id not in before
        ]
        if runs and runs[0].status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE):
            break
        assert time.monotonic() < deadline, "the launched run did not finish within 240 s"
        time.sleep(2)
    (run,) = runs
    assert run.status == DagsterRunStatus.SUCCESS
    assert AssetKey("trainee_score") in run.asset_selection
    _open(page, ui, f"/runs/{run.run_id}", "materialize_run", "Success")
