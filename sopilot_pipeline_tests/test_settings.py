"""Settings are validated like input: through the real CLI, a bad ``SOPILOT_*`` value
exits 2 before any work with one line naming the variable and the value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sopilot_pipeline.defs.resources import SopilotSettings

CLI = str(Path(sys.executable).with_name("sopilot-pipeline"))


def _process(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPILOT_", "DAGSTER_"))}
    env |= {"SOPILOT_DATA_DIR": str(tmp_path / "data"), **variables}
    return subprocess.run(
        [CLI, "process"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SOPILOT_SCORING", '{"miss_penalty": NaN}', "finite"),
        ("SOPILOT_SCORING", '{"miss_penalty": Infinity}', "finite"),
        ("SOPILOT_SCORING", '{"miss_penalty": "high"}', "must be numbers"),
        ("SOPILOT_SCORING", "[1, 2]", "JSON object"),
        ("SOPILOT_TARGET_FPS", "abc", "must be a number"),
        ("SOPILOT_TARGET_FPS", "nan", "finite"),
        ("SOPILOT_MIN_STEP_SEC", "inf", "finite"),
        ("SOPILOT_EXTRA_COST", "-1", "positive"),
        ("SOPILOT_OVER_TIME_RATIO", "-inf", "finite"),
        ("SOPILOT_SENSOR_HASH_SECONDS", "NaN", "finite"),
        ("SOPILOT_RETENTION_DAYS", "1.5", "whole number"),
        ("SOPILOT_STEP_METHOD", "guess", "must be one of"),
    ],
)
def test_a_bad_setting_exits_2_naming_the_variable_and_value(tmp_path, name, value, says) -> None:
    run = _process(tmp_path, **{name: value})
    assert run.returncode == 2, run.stdout + run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("configuration error")]
    assert len(lines) == 1, run.stderr
    assert name in lines[0] and value in lines[0] and says in lines[0], lines[0]
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was made


def test_an_unusable_data_root_is_refused_at_start_up(tmp_path) -> None:
    a_file = tmp_path / "not_a_folder"
    a_file.write_text("x")
    for value, says in [
        (str(a_file), "is not a directory"),
        (str(a_file / "data"), "is a file"),
        ("", "empty"),
        ("  ", "empty"),
    ]:
        run = _process(tmp_path, SOPILOT_DATA_DIR=value)
        assert run.returncode == 2, (value, run.stdout, run.stderr)
        assert "SOPILOT_DATA_DIR" in run.stderr and says in run.stderr, run.stderr
        assert "Traceback" not in run.stderr
    assert not (tmp_path / "dagster").exists()  # no instance made in the current folder


def test_settings_made_in_code_refuse_what_the_environment_would(tmp_path) -> None:
    """The resource itself (as Dagster config or in code) refuses NaN and a file root."""
    data = str(tmp_path / "data")
    with pytest.raises(ValueError, match="finite"):
        SopilotSettings(data_dir=data, scoring_overrides={"miss_penalty": float("nan")})
    with pytest.raises(ValueError, match="finite"):
        SopilotSettings(data_dir=data, extra_cost=float("inf"))
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="not a directory"):
        SopilotSettings(data_dir=str(tmp_path / "file"))
    assert SopilotSettings(data_dir=data).data_dir == data  # made later, on first use
