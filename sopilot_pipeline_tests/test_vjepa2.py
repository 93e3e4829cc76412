"""The V-JEPA2 embedder on a tiny random model, loaded the way a user configures it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from dagster import AssetKey, DagsterInstance
from pydantic import ValidationError

torch = pytest.importorskip("torch")  # the dev extra installs it; the default install does not
transformers = pytest.importorskip("transformers")

from sopilot_pipeline.core.base import device as device_probe  # noqa: E402
from sopilot_pipeline.core.embed.vjepa2 import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelLoadError,
    VJEPA2Embedder,
    batch_limit,
    clip_frame_index,
    load_model,
    preprocess,
    short_edge_size,
)
from sopilot_pipeline.core.store.layout import read_json  # noqa: E402
from sopilot_pipeline.defs import build_definitions  # noqa: E402
from sopilot_pipeline.defs.resources import SopilotSettings  # noqa: E402
from sopilot_pipeline.process import process_watch_folder  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def test_a_configured_model_scores_real_videos_through_the_pipeline(
    tiny_model: Path, demo_watch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = "assemble_valve"
    shutil.copytree(demo_watch / task, tmp_path / "data" / "watch" / task)
    monkeypatch.setenv("SOPILOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SOPILOT_VJEPA2_MODEL", str(tiny_model))  # what a user sets
    settings = SopilotSettings.from_env()
    assert settings.embedder_kind == "vjepa2" and settings.uses_gpu_pool
    (tmp_path / "home").mkdir()
    instance = DagsterInstance.local_temp(str(tmp_path / "home"))
    outcome = process_watch_folder(settle_seconds=0.1, settings=settings, instance=instance)
    assert outcome.failed_runs == []

    name = settings.embedder.name
    assert name.startswith("vjepa2-vjepa2-tiny-")
    scores = pl.read_parquet(str(tmp_path / "data/tables/scores/**/*.parquet"))
    trainees = [p for p in (demo_watch / task / "trainee").iterdir()]
    assert len(scores) == len(trainees) > 0
    assert scores["score"].is_between(0, 100).all()
    assert set(scores["embedder"]) == {name}  # never mixed with another embedder's
    meta = read_json(next((tmp_path / "data/embeddings/trainee").glob("*.json")))
    assert meta["embedder"] == name
    assert meta["embedder_details"]["revision"] == name.rsplit("-", 1)[1]
    assert meta["embedder_details"]["frames_per_clip"] == 4
    vectors = np.load(next((tmp_path / "data/embeddings/trainee").glob("*.npy")))
    assert vectors.shape[1] == 48 and np.isfinite(vectors).all()
    adapters = list((tmp_path / "data/models").glob(f"feature_adapter_{name}_*.npz"))
    assert len(adapters) == 1  # an adapter of its own
    assert instance.get_materialized_partitions(AssetKey("trainee_score"))


def test_embeddings_follow_the_frames(tiny_model: Path) -> None:
    embedder = VJEPA2Embedder(model=str(tiny_model))
    assert embedder.frame_size_for(320, 240) == (44, 32)  # short edge to the crop size
    rng = np.random.default_rng(1)
    frames = (rng.random((10, 32, 44, 3)) * 255).astype(np.uint8)
    times = np.arange(10) * 0.25
    emb = embedder.embed(frames, times, 4.0)
    # clips of 4 frames every 2: [0,4) [2,6) [4,8) [6,10)
    assert emb.vectors.shape == (4, 48)
    assert np.allclose(emb.start_sec, [0.0, 0.5, 1.0, 1.5])
    assert np.allclose(emb.end_sec, [1.0, 1.5, 2.0, 2.5])
    again = embedder.embed(frames, times, 4.0)
    assert np.allclose(again.vectors, emb.vectors, atol=1e-5)  # deterministic, eval mode
    changed = embedder.embed(frames[::-1].copy(), times, 4.0)
    assert not np.allclose(changed.vectors[0], emb.vectors[0], atol=1e-4)


@pytest.mark.parametrize("n_frames", [3, 4, 9, 10, 37])
def test_frames_are_embedded_as_they_stream_with_the_whole_videos_clips(
    tiny_model: Path, n_frames: int
) -> None:
    """Streamed a few clips at a time, holding only the frames of clips not embedded yet:
    the clips, their times and their vectors are those of the whole video at once (a
    tail clip included)."""
    from sopilot_pipeline.core.embed.base import clip_windows

    embedder = VJEPA2Embedder(model=str(tiny_model), max_batch=2, stream_clips=2)
    rng = np.random.default_rng(n_frames)
    frames = (rng.random((n_frames, 32, 44, 3)) * 255).astype(np.uint8)
    times = np.arange(n_frames) * 0.25
    streamed = embedder.embed_frames(zip(times, frames, strict=True), 4.0)
    windows = clip_windows(n_frames, 4, 2)
    x = _normalised_on_the_host(frames, embedder.loaded.crop_size)
    whole = embedder._forward(
        np.stack([x[np.minimum(np.arange(a, a + 4), b - 1)] for a, b in windows])
    )
    assert streamed.vectors.shape == whole.shape
    assert np.allclose(streamed.vectors, whole, atol=1e-6)
    assert np.array_equal(streamed.start_sec, [times[a] for a, _ in windows])
    assert np.allclose(streamed.end_sec, [times[b - 1] + 0.25 for _, b in windows])


def test_the_model_is_loaded_once_per_process(tiny_model: Path) -> None:
    a = VJEPA2Embedder(model=str(tiny_model)).loaded
    b = VJEPA2Embedder(model=str(tiny_model)).loaded
    assert a is b and a.device == "cpu"


def _normalised_on_the_host(frames: np.ndarray, crop: int) -> np.ndarray:
    """Centre crop and ImageNet normalisation written out in numpy, (n, 3, crop, crop)."""
    _, h, w, _ = frames.shape
    top, left = (h - crop) // 2, (w - crop) // 2
    x = frames[:, top : top + crop, left : left + crop].astype(np.float32) * (1.0 / 255.0)
    return np.ascontiguousarray(((x - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2))


def test_preprocessing_crops_the_centre_and_normalises() -> None:
    assert short_edge_size(1280, 720, 256) == (456, 256)
    assert short_edge_size(720, 1280, 256) == (256, 456)
    frames = np.zeros((1, 32, 48, 3), np.uint8)
    frames[:, :, 8:40] = 255  # the centre 32 columns are white, the rest black
    x = preprocess(frames, 32).numpy()
    assert x.shape == (1, 3, 32, 32)
    white = (1.0 - IMAGENET_MEAN) / IMAGENET_STD
    assert np.allclose(x[0, :, 5, 5], white, atol=1e-5)
    assert np.allclose(x[0].mean(axis=(1, 2)), white, atol=1e-5)
    noise = np.random.default_rng(3).integers(0, 256, (5, 36, 40, 3), dtype=np.uint8)
    # the frames are normalised on the model's device as they would be on the host
    assert np.array_equal(preprocess(noise, 32).numpy(), _normalised_on_the_host(noise, 32))


def test_clips_repeat_their_last_frame_when_short() -> None:
    index = clip_frame_index([(0, 4), (2, 6), (7, 9), (0, 1)], 4)
    assert index.tolist() == [[0, 1, 2, 3], [2, 3, 4, 5], [7, 8, 8, 8], [0, 0, 0, 0]]


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "no config.json"),
        (lambda p: (p.mkdir(), (p / "config.json").write_text("{}")), "no weights"),
    ],
    ids=["missing", "empty", "config-only"],
)
def test_an_unusable_model_directory_is_a_clear_error(
    tmp_path: Path, setup, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model"
    setup(path)
    with pytest.raises(ValidationError, match=reason):
        SopilotSettings(data_dir=str(tmp_path), embedder_kind="vjepa2", vjepa2_model=str(path))
    monkeypatch.setenv("SOPILOT_VJEPA2_MODEL", str(path))
    with pytest.raises(ValidationError, match=reason):
        SopilotSettings.from_env()
    with pytest.raises(ModelLoadError, match=reason):
        load_model(str(path), "cpu", False, False)


def test_a_hub_id_is_never_downloaded_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # and no network either way
    hub_id = "facebook/vjepa2-vitl-fpc64-256"
    embedder = VJEPA2Embedder(model=hub_id)
    with pytest.raises(ModelLoadError, match="not in the local Hugging Face cache"):
        _ = embedder.name
    # and the settings refuse it at start-up, unless downloading is allowed
    with pytest.raises(ValidationError, match="not in the local Hugging Face cache"):
        SopilotSettings(data_dir=str(tmp_path), embedder_kind="vjepa2", vjepa2_model=hub_id)
    allowed = SopilotSettings(
        data_dir=str(tmp_path),
        embedder_kind="vjepa2",
        vjepa2_model=hub_id,
        vjepa2_allow_download=True,
    )
    assert allowed.vjepa2_allow_download


def test_out_of_memory_halves_the_batch_and_retries(tiny_model: Path) -> None:
    embedder = VJEPA2Embedder(model=str(tiny_model), max_batch=8)
    real = embedder.loaded
    sizes: list[int] = []

    class RunsOutOfMemoryAboveTwo:  # the fault: a GPU that fits two clips at a time
        def get_vision_features(self, x):
            sizes.append(len(x))
            if len(x) > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
            return real.model.get_vision_features(x)

    from dataclasses import replace

    embedder.__dict__["loaded"] = replace(real, model=RunsOutOfMemoryAboveTwo())
    clips = np.random.default_rng(2).standard_normal((7, 4, 3, 32, 32)).astype(np.float32)
    out = embedder._forward(clips)
    assert out.shape == (7, 48)
    assert sizes == [7, 4, 2, 2, 2, 1]  # 8 -> 4 -> 2 clips a pass, then it fits
    with torch.inference_mode():
        expected = real.model.get_vision_features(torch.from_numpy(clips)).mean(dim=1).numpy()
    assert np.allclose(out, expected, atol=1e-4)


def test_batch_limit_follows_free_memory() -> None:
    tokens, hidden = 8 * 16 * 16, 1024  # ViT-L, 16 frames at 256²
    assert batch_limit(80 * 2**30, tokens, hidden, 32) == 32
    assert 1 <= batch_limit(2 * 2**30, tokens, hidden, 32) < 32
    assert batch_limit(0, tokens, hidden, 32) == 1


def test_device_probes_respect_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    device_probe.torch_cuda_works.cache_clear()
    device_probe.cupy_works.cache_clear()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert device_probe.torch_cuda_works() is False
    assert device_probe.cupy_works() is False
    device_probe.torch_cuda_works.cache_clear()
    device_probe.cupy_works.cache_clear()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv("SOPILOT_DEVICE", "cpu")
    assert device_probe.torch_device("auto") == "cpu"
    assert device_probe.dtw_on_gpu() is False
    monkeypatch.setenv("SOPILOT_DEVICE", "tpu")
    with pytest.raises(ValueError, match="SOPILOT_DEVICE"):
        device_probe.torch_device()
    device_probe.torch_cuda_works.cache_clear()
    device_probe.cupy_works.cache_clear()


def test_gpu_embedding_steps_share_one_gpu_pool(tiny_model: Path, tmp_path: Path) -> None:
    gpu = SopilotSettings(
        data_dir=str(tmp_path), embedder_kind="vjepa2", vjepa2_model=str(tiny_model)
    )
    cpu = SopilotSettings(data_dir=str(tmp_path))
    for settings, pool in ((gpu, "gpu"), (cpu, None)):
        graph = build_definitions(settings).resolve_asset_graph()
        node = graph.get(AssetKey("trainee_clip_embeddings"))
        assert node.pools == ({pool} if pool else set())
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    assert config["concurrency"]["pools"]["default_limit"] == 1


def test_the_command_refuses_a_missing_model_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sopilot_pipeline.cli import main

    monkeypatch.setenv("SOPILOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SOPILOT_VJEPA2_MODEL", str(tmp_path / "no-such-model"))
    assert main(["process"]) == 2
    err = capsys.readouterr().err
    assert "configuration error: V-JEPA2 model directory" in err and "does not exist" in err
    assert "Traceback" not in err
    assert not (tmp_path / "data").exists()  # nothing created before the settings are valid
