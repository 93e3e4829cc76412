"""Shared fixtures: rendered demo videos and one full pipeline pass over them."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance

from sopilot_pipeline.core.harness.demo import write_demo_set
from sopilot_pipeline.defs.resources import SopilotSettings
from sopilot_pipeline.process import ProcessOutcome, process_watch_folder


@pytest.fixture(scope="session")
def demo_watch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo set, rendered once per test session (real H.264 files)."""
    watch = tmp_path_factory.mktemp("demo") / "watch"
    write_demo_set(watch)
    return watch


@dataclass
class PipelineRun:
    settings: SopilotSettings
    instance: DagsterInstance
    outcome: ProcessOutcome
    truth: dict

    @property
    def data(self) -> Path:
        return Path(self.settings.data_dir)


@pytest.fixture(scope="session")
def pipeline_run(demo_watch: Path, tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    """Demo set plus a corrupt and a non-video file, processed end to end."""
    data = tmp_path_factory.mktemp("data")
    shutil.copytree(demo_watch, data / "watch")
    bad = data / "watch" / "assemble_valve" / "trainee"
    (bad / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    (bad / "notes.MP4").write_text("this is a text file, not a video\n")
    settings = SopilotSettings(data_dir=str(data))
    instance = DagsterInstance.local_temp(str(tmp_path_factory.mktemp("dagster_home")))
    outcome = process_watch_folder(settle_seconds=0.2, settings=settings, instance=instance)
    truth = json.loads((data / "watch" / "demo_ground_truth.json").read_text())
    return PipelineRun(settings, instance, outcome, truth)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random V-JEPA2 small enough for the CPU, saved as a real checkpoint directory
    (the V-JEPA2, Celery and Kubernetes tests load it by the path a user configures)."""
    torch = pytest.importorskip("torch")  # the dev extra installs it
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.VJEPA2Config(
        hidden_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        mlp_ratio=2.0,
        crop_size=32,
        patch_size=8,
        frames_per_clip=4,
        tubelet_size=2,
        pred_hidden_size=24,
        pred_num_hidden_layers=1,
        pred_num_attention_heads=2,
        pred_num_mask_tokens=2,
        num_pooler_layers=1,
    )
    path = tmp_path_factory.mktemp("models") / "vjepa2-tiny"
    transformers.VJEPA2Model(config).save_pretrained(path)
    return path
