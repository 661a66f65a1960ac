"""Typed, inert training configuration, loaded from YAML (``training/configs/*.yaml``).

Every threshold the training job uses lives here and is logged with the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_PATH = REPO_ROOT / "training" / "configs" / "default.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SplitConfig(_Strict):
    test_share: float = Field(0.2, gt=0, lt=1, description="Newest share of leads held out.")
    valid_share: float = Field(
        0.2, gt=0, lt=1, description="Newest share of the rest: early stopping + calibration."
    )


class LightGBMConfig(_Strict):
    n_estimators: int = Field(3000, ge=1)
    learning_rate: float = Field(0.01, gt=0)
    num_leaves: int = Field(7, ge=2)
    min_child_samples: int = Field(40, ge=1)
    subsample: float = Field(0.8, gt=0, le=1)
    subsample_freq: int = Field(1, ge=0)
    colsample_bytree: float = Field(0.5, gt=0, le=1)
    reg_lambda: float = Field(10.0, ge=0)
    cat_smooth: float = Field(10.0, ge=0)
    cat_l2: float = Field(10.0, ge=0)
    min_data_per_group: int = Field(50, ge=1)
    max_cat_to_onehot: int = Field(32, ge=1)
    early_stopping_rounds: int = Field(200, ge=1)


class FeatureConfig(_Strict):
    exclude: list[str] = Field(default_factory=list, description="Never used as features.")
    min_category_count: int = Field(10, ge=1)
    max_categories: int = Field(200, ge=2)


class LeakageConfig(_Strict):
    stop_auc: float = Field(
        0.90, gt=0.5, le=1, description="A column alone (or its missingness) this good: stop."
    )
    warn_auc: float = Field(0.80, gt=0.5, le=1, description="A column alone this good: warn.")
    dominance_share: float = Field(
        0.62,
        gt=0,
        le=1,
        description="Stop when a column carries this share of an all-column model's gain.",
    )
    dominance_min_auc: float = Field(
        0.70, gt=0.5, le=1, description="The dominance rule applies from this single AUC on."
    )
    allow: list[str] = Field(default_factory=list, description="Columns allowed explicitly.")

    @model_validator(mode="after")
    def _ordered(self) -> LeakageConfig:
        if self.warn_auc > self.stop_auc:
            raise ValueError("leakage.warn_auc must not exceed leakage.stop_auc")
        return self


class TierConfig(_Strict):
    shares: dict[str, float] = Field(
        default_factory=lambda: {"A": 0.10, "B": 0.20, "C": 0.30, "D": 0.40},
        description="Share of validation leads per tier, best first; must add up to 1.",
    )

    @model_validator(mode="after")
    def _sums_to_one(self) -> TierConfig:
        total = sum(self.shares.values())
        if abs(total - 1.0) > 1e-6 or any(v <= 0 for v in self.shares.values()):
            raise ValueError(f"tiers.shares must be positive and add up to 1 (got {total:g})")
        return self


class ScoreConfig(_Strict):
    low_quantile: float = Field(
        0.005, ge=0, lt=0.5, description="Validation close log-odds quantile mapped to score 0."
    )
    high_quantile: float = Field(
        0.995, gt=0.5, le=1, description="Validation close log-odds quantile mapped to 100."
    )


class RulePointsConfig(_Strict):
    """The hand-written points score marketing teams use today (baseline)."""

    inbound_source: float = 10
    awareness: dict[str, float] = Field(default_factory=lambda: {"none": 0, "low": 10, "high": 25})
    thresholds: dict[str, list[float]] = Field(
        default_factory=lambda: {
            "website_visits": [3, 10],
            "time_on_site_s": [300, 900],
            "pages_viewed": [5, 15],
            "email_clicks": [1, 3],
            "content_downloads": [1],
            "events_attended": [1],
        },
        description="Per engagement field, thresholds each worth `points_per_threshold`.",
    )
    points_per_threshold: float = 5


class RegistryConfig(_Strict):
    name: str = "lead-scorer"
    max_auc_drop: float = Field(0.005, ge=0, description="Champion rule: close ROC-AUC drop.")
    max_brier_increase: float = Field(0.0, ge=0, description="Champion rule: Brier increase.")


class TrainConfig(_Strict):
    """The whole training configuration (logged as run params)."""

    seed: int = 42
    experiment: str = "leadmodel"
    split: SplitConfig = Field(default_factory=SplitConfig)
    lightgbm: LightGBMConfig = Field(default_factory=LightGBMConfig)
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    leakage: LeakageConfig = Field(default_factory=LeakageConfig)
    tiers: TierConfig = Field(default_factory=TierConfig)
    score: ScoreConfig = Field(default_factory=ScoreConfig)
    rule_points: RulePointsConfig = Field(default_factory=RulePointsConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)

    def flat(self) -> dict[str, Any]:
        """Dotted ``key: value`` pairs for MLflow params."""
        out: dict[str, Any] = {}

        def walk(prefix: str, obj: Any) -> None:
            if isinstance(obj, dict):
                for k, v in obj.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            else:
                out[prefix] = obj

        walk("", self.model_dump())
        return out


class ConfigError(Exception):
    """A config file that cannot be used; the message is one clear line."""


def load_config(path: str | Path | None = None) -> TrainConfig:
    """Load a training config from YAML (``None``: the shipped default)."""
    path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    if not path.is_file():
        if path == DEFAULT_CONFIG_PATH:
            return TrainConfig()
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
