"""Pipeline settings as a Dagster resource, filled from ``SOPILOT_*`` variables."""

import json
import os
from dataclasses import fields
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field, field_validator

from sopilot_pipeline.core.embed import HeuristicEmbedder
from sopilot_pipeline.core.layout import DataLayout
from sopilot_pipeline.core.scoring import ScoringConfig
from sopilot_pipeline.core.steps import StepDetectionConfig


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

    @field_validator("min_step_sec", "step_penalty_per_sec", "extra_cost", "over_time_ratio")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(f"must be positive, got {value}")
        return value

    @field_validator("scoring_overrides")
    @classmethod
    def _known_scoring_fields(cls, value: dict[str, float]) -> dict[str, float]:
        known = {f.name for f in fields(ScoringConfig)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown scoring settings {unknown}; known: {sorted(known)}")
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

    @field_validator("training_min_new_videos")
    @classmethod
    def _non_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("SOPILOT_TRAINING_MIN_NEW_VIDEOS must be >= 0")
        return value

    @classmethod
    def from_env(cls) -> "SopilotSettings":
        env = os.environ
        return cls(
            data_dir=str(Path(env.get("SOPILOT_DATA_DIR", "data")).absolute()),
            target_fps=float(env.get("SOPILOT_TARGET_FPS", "4.0")),
            training_min_new_videos=int(env.get("SOPILOT_TRAINING_MIN_NEW_VIDEOS", "1")),
            min_step_sec=float(env.get("SOPILOT_MIN_STEP_SEC", StepDetectionConfig.min_step_sec)),
            step_penalty_per_sec=float(
                env.get("SOPILOT_STEP_PENALTY", StepDetectionConfig.penalty_per_sec)
            ),
            extra_cost=float(env.get("SOPILOT_EXTRA_COST", ScoringConfig.extra_cost)),
            over_time_ratio=float(
                env.get("SOPILOT_OVER_TIME_RATIO", ScoringConfig.over_time_ratio)
            ),
            scoring_overrides=json.loads(env.get("SOPILOT_SCORING", "{}")),
        )

    @property
    def layout(self) -> DataLayout:
        return DataLayout(Path(self.data_dir))

    @property
    def embedder(self) -> HeuristicEmbedder:
        return HeuristicEmbedder()

    @property
    def scoring(self) -> ScoringConfig:
        overrides = {k: float(v) for k, v in self.scoring_overrides.items()}
        return ScoringConfig(
            **{"extra_cost": self.extra_cost, "over_time_ratio": self.over_time_ratio, **overrides}
        )

    @property
    def step_detection(self) -> StepDetectionConfig:
        return StepDetectionConfig(
            min_step_sec=self.min_step_sec, penalty_per_sec=self.step_penalty_per_sec
        )
