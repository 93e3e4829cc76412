"""Pipeline settings as a Dagster resource, filled from ``SOPILOT_*`` variables."""

import json
import math
import os
from dataclasses import fields
from pathlib import Path
from typing import Any, get_args

from dagster import ConfigurableResource, ExecutorDefinition
from pydantic import Field, field_validator, model_validator

from sopilot_pipeline.core.base.device import DEVICE_CHOICES
from sopilot_pipeline.core.embed.heuristic import HeuristicEmbedder
from sopilot_pipeline.core.embed.vjepa2 import VJEPA2Embedder, check_model_source, model_revision
from sopilot_pipeline.core.scoring.results import ScoringConfig
from sopilot_pipeline.core.segment.steps import StepDetectionConfig, StepMethod
from sopilot_pipeline.core.store.layout import DataLayout
from sopilot_pipeline.core.video.face_mask import (
    MASK_MODES,
    FaceDetector,
    FaceMaskConfig,
    check_face_detector,
)
from sopilot_pipeline.defs.execution import (
    DEFAULT_GPU_TOLERATIONS,
    check_executor,
    executor_for,
    gpu_step_tags,
)

EMBEDDERS = ("heuristic", "vjepa2")


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _env_flag(name: str) -> bool:
    """A yes/no variable; anything else is refused by name (a typo must not mean no)."""
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be true or false, got {os.environ[name]!r}")


# the variable each setting is read from, so that every error names it
ENV_NAMES = {
    "data_dir": "SOPILOT_DATA_DIR",
    "target_fps": "SOPILOT_TARGET_FPS",
    "training_min_new_videos": "SOPILOT_TRAINING_MIN_NEW_VIDEOS",
    "min_step_sec": "SOPILOT_MIN_STEP_SEC",
    "step_penalty_per_sec": "SOPILOT_STEP_PENALTY",
    "step_method": "SOPILOT_STEP_METHOD",
    "extra_cost": "SOPILOT_EXTRA_COST",
    "over_time_ratio": "SOPILOT_OVER_TIME_RATIO",
    "scoring_overrides": "SOPILOT_SCORING",
    "sensor_max_requests": "SOPILOT_SENSOR_MAX_REQUESTS",
    "sensor_hash_seconds": "SOPILOT_SENSOR_HASH_SECONDS",
    "retention_days": "SOPILOT_RETENTION_DAYS",
    "embedder_kind": "SOPILOT_EMBEDDER",
    "vjepa2_model": "SOPILOT_VJEPA2_MODEL",
    "device": "SOPILOT_DEVICE",
    "vjepa2_batch_size": "SOPILOT_VJEPA2_BATCH",
    "vjepa2_frames_per_clip": "SOPILOT_VJEPA2_FRAMES",
    "executor": "SOPILOT_EXECUTOR",
    "celery_broker": "SOPILOT_CELERY_BROKER",
    "celery_backend": "SOPILOT_CELERY_BACKEND",
    "k8s_gpu_node_selector": "SOPILOT_K8S_GPU_NODE_SELECTOR",
    "k8s_gpu_tolerations": "SOPILOT_K8S_GPU_TOLERATIONS",
    "privacy_mask": "SOPILOT_PRIVACY_MASK",
    "delete_originals": "SOPILOT_DELETE_ORIGINALS",
}


def _env_json(name: str, default: object, kind: type) -> object:
    """A JSON variable of the given kind (dict or list), refused by name otherwise."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} must be JSON, got {raw!r} ({exc})") from None
    if not isinstance(value, kind):
        raise ValueError(
            f"{name} must be a JSON {'object' if kind is dict else 'list'}, got {raw!r}"
        )
    return value


def _env_number(name: str, default: float, kind: type = float) -> float:
    """A numeric variable; a value that is not a finite number is refused by name."""
    raw = os.environ.get(name)
    if raw is None:
        return kind(default)
    try:
        value = kind(raw.strip())
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"{name} must be {what}, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {raw!r}")
    return value


def _env_scoring() -> dict[str, float]:
    """``SOPILOT_SCORING``: a JSON object of finite numbers."""
    raw = os.environ.get("SOPILOT_SCORING", "{}")

    def refuse(constant: str) -> float:
        raise ValueError(f"SOPILOT_SCORING must hold finite numbers, got {constant} in {raw!r}")

    try:
        value = json.loads(raw, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        raise ValueError(f"SOPILOT_SCORING must be a JSON object, got {raw!r} ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"SOPILOT_SCORING must be a JSON object, got {raw!r}")
    wrong = sorted(
        k for k, v in value.items() if isinstance(v, bool) or not isinstance(v, int | float)
    )
    if wrong:
        raise ValueError(f"SOPILOT_SCORING values must be numbers: {wrong} in {raw!r}")
    return value


def _env_data_dir() -> str:
    raw = os.environ.get("SOPILOT_DATA_DIR", "data")
    if not raw.strip():
        raise ValueError("SOPILOT_DATA_DIR is set but empty; give the data root's path")
    return str(Path(raw).absolute())


class SopilotSettings(ConfigurableResource):
    """Where data lives and how videos are sampled; validated when Dagster loads it."""

    data_dir: str = Field(description="Data root: watch/, raw/, embeddings/, models/, ...")
    target_fps: float = Field(default=4.0, description="Frames sampled per second of video")
    training_min_new_videos: int = Field(
        default=1, description="New gold videos needed before the nightly adapter retrains"
    )
    min_step_sec: float = Field(
        default=StepDetectionConfig.min_step_sec, description="Shortest gold step, seconds"
    )
    step_penalty_per_sec: float = Field(
        default=StepDetectionConfig.penalty_per_sec,
        description="Change-point penalty per second of video; lower finds more steps",
    )
    step_method: str = Field(
        default=StepDetectionConfig.method,
        description="Step detection without a sidecar: auto (returns to the rest pose a "
        "video opens in, else change points), rest, kernel or novelty",
    )
    extra_cost: float = Field(
        default=ScoringConfig.extra_cost,
        description="Clips costlier than this against every gold step are unrelated activity",
    )
    over_time_ratio: float = Field(default=ScoringConfig.over_time_ratio)
    scoring_overrides: dict[str, float] = Field(
        default_factory=dict,
        description="Any other ScoringConfig field (penalty points, prices, thresholds), "
        'e.g. {"miss_penalty": 20}',
    )
    sensor_max_requests: int = Field(
        default=200, description="Most new run requests per watch-sensor tick"
    )
    sensor_hash_seconds: float = Field(
        default=20.0, description="Time a watch-sensor tick may spend hashing new files"
    )
    retention_days: int = Field(
        default=0, description="Raw videos older than this many days are deleted; 0 keeps all"
    )
    embedder_kind: str = Field(
        default="heuristic", description="heuristic (fast, CPU) or vjepa2 (GPU when there is one)"
    )
    vjepa2_model: str = Field(default="", description="V-JEPA2 model directory or hub id")
    device: str = Field(default="auto", description="auto, cpu or cuda for torch models")
    vjepa2_batch_size: int = Field(default=32, description="Most clips per V-JEPA2 forward pass")
    vjepa2_frames_per_clip: int = Field(
        default=0, description="Sampled frames per V-JEPA2 clip; 0 uses the checkpoint's"
    )
    vjepa2_compile: bool = Field(default=False, description="torch.compile the V-JEPA2 model")
    vjepa2_allow_download: bool = Field(
        default=False, description="Let a hub id download when it is not in the local cache"
    )
    executor: str = Field(
        default="in_process", description="Where steps run: in_process, multiprocess, celery, k8s"
    )
    celery_broker: str = Field(default="", description="Celery broker URL (executor celery)")
    celery_backend: str = Field(default="", description="Celery result backend URL")
    k8s_gpu_node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node selector of GPU step pods (executor k8s)"
    )
    k8s_gpu_tolerations: list[dict[str, Any]] = Field(
        default_factory=lambda: list(DEFAULT_GPU_TOLERATIONS),
        description="Tolerations of GPU step pods (executor k8s)",
    )
    privacy_mask: str = Field(
        default="none",
        description="Faces in every kept or shown frame (raw copy, clips, keyframes): "
        "none, blur or pixelate",
    )
    delete_originals: bool = Field(
        default=False,
        description="Delete a video from the watch folder once it is registered and embedded "
        "(its raw copy, masked when masking is on, stays)",
    )

    @field_validator(
        "target_fps",
        "min_step_sec",
        "step_penalty_per_sec",
        "extra_cost",
        "over_time_ratio",
        "sensor_hash_seconds",
        mode="before",
    )
    @classmethod
    def _finite(cls, value: float) -> float:
        if isinstance(value, int | float) and not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
        return value

    @field_validator(
        "min_step_sec",
        "step_penalty_per_sec",
        "extra_cost",
        "over_time_ratio",
        "sensor_hash_seconds",
    )
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(f"must be positive, got {value}")
        return value

    @field_validator("data_dir")
    @classmethod
    def _usable_data_root(cls, value: str) -> str:
        """The data root, or the folder it will be made in, is a writable directory."""
        if not value.strip():
            raise ValueError("is empty; give the data root's path")
        path = Path(value)
        if path.exists() and not path.is_dir():
            raise ValueError("is not a directory")
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise ValueError(f"cannot be made: {str(existing)!r} is a file")
        if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
            raise ValueError(f"is not writable ({str(existing)!r} is not)")
        return value

    @field_validator("step_method")
    @classmethod
    def _known_step_method(cls, value: str) -> str:
        if value not in get_args(StepMethod):
            raise ValueError(
                f"SOPILOT_STEP_METHOD must be one of {', '.join(get_args(StepMethod))}, "
                f"got {value!r}"
            )
        return value

    @field_validator("scoring_overrides")
    @classmethod
    def _known_scoring_fields(cls, value: dict[str, float]) -> dict[str, float]:
        known = {f.name for f in fields(ScoringConfig)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown scoring settings {unknown}; known: {sorted(known)}")
        not_finite = sorted(k for k, v in value.items() if not math.isfinite(v))
        if not_finite:
            raise ValueError(f"scoring settings must be finite numbers: {not_finite}")
        negative = sorted(k for k, v in value.items() if v < 0)
        if negative:
            raise ValueError(f"scoring settings must not be negative: {negative}")
        return value

    @field_validator("target_fps")
    @classmethod
    def _positive_fps(cls, value: float) -> float:
        if not 0.1 <= value <= 60:
            raise ValueError(f"SOPILOT_TARGET_FPS must be within 0.1-60, got {value}")
        return value

    @field_validator("training_min_new_videos", "retention_days")
    @classmethod
    def _non_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError(
                "must be >= 0 (SOPILOT_TRAINING_MIN_NEW_VIDEOS, SOPILOT_RETENTION_DAYS)"
            )
        return value

    @field_validator("embedder_kind")
    @classmethod
    def _known_embedder(cls, value: str) -> str:
        if value not in EMBEDDERS:
            raise ValueError(f"SOPILOT_EMBEDDER must be one of {EMBEDDERS}, got {value!r}")
        return value

    @field_validator("privacy_mask")
    @classmethod
    def _known_mask(cls, value: str) -> str:
        if value not in MASK_MODES:
            raise ValueError(
                f"SOPILOT_PRIVACY_MASK must be one of {', '.join(MASK_MODES)}, got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _mask_usable(self) -> "SopilotSettings":
        if self.privacy_mask != "none":
            check_face_detector()  # a ValueError naming what to install
        return self

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value not in DEVICE_CHOICES:
            raise ValueError(f"SOPILOT_DEVICE must be one of {DEVICE_CHOICES}, got {value!r}")
        return value

    @field_validator("vjepa2_batch_size", "sensor_max_requests")
    @classmethod
    def _positive_batch(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be >= 1 (SOPILOT_VJEPA2_BATCH, SOPILOT_SENSOR_MAX_REQUESTS)")
        return value

    @model_validator(mode="after")
    def _executor_usable(self) -> "SopilotSettings":
        check_executor(self.executor, self.celery_broker, self.celery_backend)
        return self

    @model_validator(mode="after")
    def _model_usable(self) -> "SopilotSettings":
        if self.embedder_kind == "vjepa2":
            check_model_source(self.vjepa2_model)  # ModelLoadError is a ValueError
            if not self.vjepa2_allow_download:
                model_revision(self.vjepa2_model)  # a hub id must already be cached
        return self

    @classmethod
    def from_env(cls) -> "SopilotSettings":
        """Settings from ``SOPILOT_*`` variables; a bad one raises ``ValueError`` (or
        pydantic's ``ValidationError``) naming the variable and its value."""
        env = os.environ
        return cls(
            data_dir=_env_data_dir(),
            target_fps=_env_number("SOPILOT_TARGET_FPS", 4.0),
            training_min_new_videos=_env_number("SOPILOT_TRAINING_MIN_NEW_VIDEOS", 1, int),
            min_step_sec=_env_number("SOPILOT_MIN_STEP_SEC", StepDetectionConfig.min_step_sec),
            step_penalty_per_sec=_env_number(
                "SOPILOT_STEP_PENALTY", StepDetectionConfig.penalty_per_sec
            ),
            step_method=env.get("SOPILOT_STEP_METHOD", StepDetectionConfig.method),
            extra_cost=_env_number("SOPILOT_EXTRA_COST", ScoringConfig.extra_cost),
            over_time_ratio=_env_number("SOPILOT_OVER_TIME_RATIO", ScoringConfig.over_time_ratio),
            scoring_overrides=_env_scoring(),
            # a model given and no embedder named means: use the model
            embedder_kind=env.get(
                "SOPILOT_EMBEDDER", "vjepa2" if env.get("SOPILOT_VJEPA2_MODEL") else "heuristic"
            ),
            vjepa2_model=env.get("SOPILOT_VJEPA2_MODEL", ""),
            retention_days=_env_number("SOPILOT_RETENTION_DAYS", 0, int),
            sensor_max_requests=_env_number("SOPILOT_SENSOR_MAX_REQUESTS", 200, int),
            sensor_hash_seconds=_env_number("SOPILOT_SENSOR_HASH_SECONDS", 20.0),
            device=env.get("SOPILOT_DEVICE", "auto").strip().lower() or "auto",
            vjepa2_batch_size=_env_number("SOPILOT_VJEPA2_BATCH", 32, int),
            vjepa2_frames_per_clip=_env_number("SOPILOT_VJEPA2_FRAMES", 0, int),
            vjepa2_compile=_flag(env.get("SOPILOT_VJEPA2_COMPILE", "")),
            vjepa2_allow_download=_flag(env.get("SOPILOT_VJEPA2_ALLOW_DOWNLOAD", "")),
            executor=env.get("SOPILOT_EXECUTOR", "in_process").strip().lower() or "in_process",
            celery_broker=env.get("SOPILOT_CELERY_BROKER", ""),
            celery_backend=env.get("SOPILOT_CELERY_BACKEND", ""),
            k8s_gpu_node_selector=_env_json("SOPILOT_K8S_GPU_NODE_SELECTOR", {}, dict),
            k8s_gpu_tolerations=_env_json(
                "SOPILOT_K8S_GPU_TOLERATIONS", list(DEFAULT_GPU_TOLERATIONS), list
            ),
            privacy_mask=env.get("SOPILOT_PRIVACY_MASK", "none").strip().lower() or "none",
            delete_originals=_env_flag("SOPILOT_DELETE_ORIGINALS"),
        )

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.data_dir))

    @property
    def embedder(self) -> HeuristicEmbedder | VJEPA2Embedder:
        if self.embedder_kind == "vjepa2":
            return VJEPA2Embedder(
                model=self.vjepa2_model,
                device=self.device,
                max_batch=self.vjepa2_batch_size,
                compile_model=self.vjepa2_compile,
                allow_download=self.vjepa2_allow_download,
                frames_per_clip=self.vjepa2_frames_per_clip,
            )
        return HeuristicEmbedder()

    @property
    def uses_gpu_pool(self) -> bool:
        """Embedding steps share the ``gpu`` concurrency pool when a model may use the GPU."""
        return self.embedder_kind == "vjepa2" and self.device != "cpu"

    @property
    def executor_def(self) -> ExecutorDefinition:
        return executor_for(self.executor, self.celery_broker, self.celery_backend)

    @property
    def embedding_step_tags(self) -> dict[str, Any] | None:
        """Routing tags of the embedding steps: to GPU workers and nodes when they use the
        GPU (``execution.gpu_step_tags``), none otherwise."""
        if not self.uses_gpu_pool:
            return None
        return gpu_step_tags(self.k8s_gpu_node_selector, self.k8s_gpu_tolerations)

    @property
    def face_detector(self) -> FaceDetector | None:
        """The masking detector, None when masking is off."""
        if self.privacy_mask == "none":
            return None
        return FaceDetector(FaceMaskConfig(mode=self.privacy_mask))

    @property
    def scoring(self) -> ScoringConfig:
        overrides = {k: float(v) for k, v in self.scoring_overrides.items()}
        return ScoringConfig(
            **{"extra_cost": self.extra_cost, "over_time_ratio": self.over_time_ratio, **overrides}
        )

    @property
    def step_detection(self) -> StepDetectionConfig:
        return StepDetectionConfig(
            method=self.step_method,  # type: ignore[arg-type]  # checked by _known_step_method
            min_step_sec=self.min_step_sec,
            penalty_per_sec=self.step_penalty_per_sec,
        )
