"""Retraining for schedulers: the training job on the newest window of an export.

``leadmodel retrain`` and ``training/retrain.py`` call :func:`retrain`. It is
:func:`leadmodel.train.train` on the leads of the last ``retrain.window_days`` days (up to
the export's newest lead; the time split inside the window is training's). The new
version becomes ``challenger``; ``champion`` moves only when the readiness verdict is
``ready`` and the registry gate finds it as good as the current champion on the window's
newest leads. Every alias move is recorded on the version it moves to
(:func:`leadmodel.tracking.alias_history`); a scheduler reads ``champion_moved`` and
``reason`` of :meth:`RetrainResult.to_json`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from leadmodel import ingest
from leadmodel.config import TrainConfig, load_config
from leadmodel.tracking import CHAMPION, get_alias_version
from leadmodel.train import TrainResult, train


@dataclass
class RetrainResult:
    """What a retrain did: the run, the window it learned from, and where the aliases went."""

    run: TrainResult
    champion_before: str | None
    champion_after: str | None

    @property
    def moved(self) -> bool:
        """Whether ``champion`` moved to the new version."""
        return bool(self.run.promoted)

    def to_json(self) -> dict[str, Any]:
        data = self.run.data_summary
        return {
            "model_name": self.run.model_name,
            "challenger": self.run.model_version,
            "champion_before": self.champion_before,
            "champion_after": self.champion_after,
            "champion_moved": self.moved,
            "reason": self.run.promotion_reason,
            "window": {
                k: data.get(k)
                for k in (
                    "window_days",
                    "window_start",
                    "window_end",
                    "rows_window",
                    "rows_before_window",
                )
            },
            "run": self.run.to_json(),
        }


def retrain(
    data: str | Path,
    mapping: str | Path | ingest.Mapping | None = None,
    config: TrainConfig | str | Path | None = None,
    name: str | None = None,
    experiment: str | None = None,
    tracking: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> RetrainResult:
    """Train on the export's newest window, register a challenger, move ``champion`` only
    through the readiness verdict and the gate; see the module docstring."""
    cfg = config if isinstance(config, TrainConfig) else load_config(config)
    run = train(
        data,
        mapping=mapping,
        config=cfg,
        experiment=experiment,
        register_name=name,
        tracking=tracking,
        progress=progress,
        window_days=cfg.retrain.window_days,
        job="retrain",
    )
    champion = get_alias_version(MlflowClient(), run.model_name, CHAMPION)
    return RetrainResult(
        run=run,
        champion_before=run.champion_before,
        champion_after=champion,
    )
