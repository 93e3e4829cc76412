"""``SOPILOT_EXECUTOR`` picks where steps run, refuses an engine that cannot run here at
start-up, and GPU embedding steps carry the Celery queue and Kubernetes GPU request."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from sopilot_pipeline.defs import build_definitions
from sopilot_pipeline.defs.execution import CELERY_QUEUE_TAG, K8S_CONFIG_TAG, gpu_step_tags
from sopilot_pipeline.defs.ingest import build_video_assets
from sopilot_pipeline.defs.resources import SopilotSettings


@pytest.fixture
def data_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.setenv("SOPILOT_DATA_DIR", str(tmp_path / "data"))
    for name in ("SOPILOT_EXECUTOR", "SOPILOT_CELERY_BROKER", "SOPILOT_CELERY_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("setting", "name"),
    [
        ("", "in_process"),
        ("in_process", "in_process"),
        ("multiprocess", "multiprocess"),
        ("CELERY", "celery"),
        ("k8s", "k8s"),
    ],
)
def test_the_executor_follows_the_setting(data_env, setting: str, name: str) -> None:
    if setting:
        data_env.setenv("SOPILOT_EXECUTOR", setting)
    data_env.setenv("SOPILOT_CELERY_BROKER", "redis://127.0.0.1:6379/0")
    data_env.setenv("SOPILOT_CELERY_BACKEND", "redis://127.0.0.1:6379/1")
    assert build_definitions().executor.name == name


def test_an_unknown_executor_is_refused_by_name(data_env) -> None:
    data_env.setenv("SOPILOT_EXECUTOR", "spark")
    with pytest.raises(ValueError, match="SOPILOT_EXECUTOR must be one of .*'spark'"):
        SopilotSettings.from_env()


def test_celery_without_a_broker_or_backend_is_refused(data_env) -> None:
    data_env.setenv("SOPILOT_EXECUTOR", "celery")
    with pytest.raises(ValueError, match="SOPILOT_CELERY_BROKER and SOPILOT_CELERY_BACKEND"):
        SopilotSettings.from_env()
    data_env.setenv("SOPILOT_CELERY_BROKER", "redis://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="needs SOPILOT_CELERY_BACKEND"):
        SopilotSettings.from_env()


def test_an_engine_whose_package_is_missing_names_the_extra(data_env) -> None:
    real = importlib.util.find_spec
    data_env.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "dagster_k8s" else real(name, *a),
    )
    data_env.setenv("SOPILOT_EXECUTOR", "k8s")
    with pytest.raises(ValueError, match=r"pip install 'sopilot-pipeline\[k8s\]'"):
        SopilotSettings.from_env()


def test_bad_gpu_pod_settings_are_refused_by_name(data_env) -> None:
    data_env.setenv("SOPILOT_K8S_GPU_NODE_SELECTOR", "[1, 2]")
    with pytest.raises(ValueError, match="SOPILOT_K8S_GPU_NODE_SELECTOR must be a JSON object"):
        SopilotSettings.from_env()
    data_env.setenv("SOPILOT_K8S_GPU_NODE_SELECTOR", '{"pool": "gpu"')
    with pytest.raises(ValueError, match="SOPILOT_K8S_GPU_NODE_SELECTOR must be JSON"):
        SopilotSettings.from_env()


def test_gpu_embedding_steps_go_to_the_gpu_queue_and_gpu_nodes() -> None:
    tags = gpu_step_tags({"cloud.google.com/gke-accelerator": "nvidia-h100"}, [])
    registered, embeddings = build_video_assets("trainee", "gpu", tags)
    assert embeddings.op.tags[CELERY_QUEUE_TAG] == "gpu"
    k8s = json.loads(embeddings.op.tags[K8S_CONFIG_TAG])  # Dagster keeps tag values as text
    assert k8s["container_config"]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert k8s["pod_spec_config"]["node_selector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-h100"
    }
    assert CELERY_QUEUE_TAG not in (registered.op.tags or {})  # CPU work: default queue


def test_cpu_embedding_steps_carry_no_gpu_routing(data_env) -> None:
    settings = SopilotSettings.from_env()
    assert settings.embedding_step_tags is None
    defs = build_definitions(settings)
    for key in ("gold_clip_embeddings", "trainee_clip_embeddings"):
        node = defs.get_assets_def(key)
        assert CELERY_QUEUE_TAG not in (node.op.tags or {})
