"""The fitted funnel model: one object that goes from raw lead rows to scores.

Two stages, each a LightGBM booster with Platt calibration on its raw log-odds:

- ``accept``: P(sales accepts the lead), fitted on leads whose acceptance is decided;
- ``close``: P(the lead is won), fitted directly on all leads whose outcome is decided
  (a rejected lead counts as not won).

P(close) is modelled directly rather than as P(accept) x P(close | accepted): it is
calibrated as one probability, it works for exports without an ``accepted`` column, and
its explanation stays exactly additive (a product of two models is not additive in
log-odds). Calibration is a straight line on the raw log-odds (``a * raw + b``), so the
booster's SHAP contributions, scaled by ``a``, still add up to the calibrated log-odds.

The 0-100 ``score`` is a linear rescaling of the calibrated close log-odds, anchored on
validation quantiles, like a credit scorecard: every point is the same odds ratio
anywhere on the scale, and per-field points add up to the score. ``tier`` A-D cuts the
score at thresholds chosen on validation data.

Scores always come from ``booster.predict``. Contributions come from the booster's
:class:`~leadmodel.treeshap.ContributionTables` when it has them (a faster look-up of
LightGBM's own ``pred_contrib`` numbers); every call checks that base value plus
contributions equals the booster's raw score and asks LightGBM for the rows where not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from leadmodel import schema, tuning
from leadmodel.config import ExplainConfig, TrainConfig
from leadmodel.features import LeadColumns, LeadFeatures, Leads, as_columns, feature_matrix
from leadmodel.i18n import _
from leadmodel.treeshap import ContributionTables

ACCEPT = "accept"
CLOSE = "close"
STAGES: tuple[str, ...] = (ACCEPT, CLOSE)
STAGE_LABEL: dict[str, str] = {ACCEPT: schema.ACCEPTED, CLOSE: schema.CLOSED}
SCORE_MIN, SCORE_MAX = 0.0, 100.0
#: Platt scaling is fitted practically unregularised (one slope and one intercept).
_PLATT_C = 1e6
#: Threads LightGBM uses to score and explain. One: OpenMP threads busy-wait, and on a
#: small machine shared with a server or another job two threads ran up to 70x slower than
#: one (measured on the 2-core CI machine under load). Training takes its threads from the
#: settings (:func:`leadmodel.config.training_threads`).
LGBM_THREADS = 1
#: Largest relative gap allowed between base value + table contributions and the booster's
#: raw score (the tables sum LightGBM's per-tree numbers in another order: about 1e-15).
ADDITIVITY_RTOL = 1e-6
#: Model features as boosters take them: the float matrix of
#: :meth:`LeadFeatures.transform_matrix`, or the frame of :meth:`LeadFeatures.transform`
#: (converted to that matrix once, by :meth:`StageModel.matrix`).
Features = pd.DataFrame | np.ndarray

_log = logging.getLogger(__name__)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, numerically safe."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))


def logit(p: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Log-odds of probabilities (clipped away from 0 and 1)."""
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return np.log(p / (1 - p))


@dataclass
class StageModel:
    """One funnel stage: a booster and its calibration line on the raw log-odds."""

    name: str
    booster: lgb.Booster
    calib_slope: float = 1.0
    calib_intercept: float = 0.0
    best_iteration: int = 0  # trees the folds chose
    selection: dict[str, Any] = field(default_factory=dict)  # what the folds chose and measured

    def matrix(self, X: Features) -> np.ndarray:
        """The float matrix the booster reads: ``X`` itself when it is one already.

        A frame is converted with the category lists the booster was trained with, as
        LightGBM's pandas path converts it, so both give the same numbers.
        """
        if len(X) == 0:  # as LightGBM's pandas path says it
            raise ValueError("Input data must be 2 dimensional and non empty.")
        if isinstance(X, np.ndarray):
            return X
        return feature_matrix(X, self.booster.pandas_categorical)

    def raw(self, X: Features) -> np.ndarray:
        """Uncalibrated log-odds, from ``booster.predict``."""
        return self.booster.predict(self.matrix(X), raw_score=True, num_threads=LGBM_THREADS)

    def calibrated_logit(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated log-odds for raw booster log-odds."""
        return self.calib_slope * raw + self.calib_intercept

    def proba(self, X: Features) -> np.ndarray:
        """Calibrated probability of the stage's positive outcome."""
        return sigmoid(self.calibrated_logit(self.raw(X)))

    def explain(self, X: Features, raw: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(raw, contributions)``: the booster's raw score and its TreeSHAP contributions.

        ``raw``: the booster's raw score of ``X`` when already known (not predicted again).

        Contributions have one column per feature plus the base value last: LightGBM's
        ``pred_contrib`` numbers, looked up in exact per-leaf tables when the trees fit
        them (:mod:`leadmodel.treeshap`: up to 63 leaves; several times faster). Every call
        checks that they add up to ``raw`` (to :data:`ADDITIVITY_RTOL`); rows where they do not are
        computed by LightGBM instead, and the first such call logs a warning.
        """
        matrix = self.matrix(X)
        if raw is None:
            raw = self.booster.predict(matrix, raw_score=True, num_threads=LGBM_THREADS)
        tables = self.contribution_tables()
        if tables is None:
            return raw, self._pred_contrib(matrix)
        contrib = tables.contributions(matrix)
        gap = np.abs(contrib.sum(axis=1) - raw)
        off = ~(gap <= ADDITIVITY_RTOL * np.maximum(np.abs(raw), 1.0))  # NaN is off too
        if off.any():
            if not getattr(self, "_warned", False):
                _log.warning(
                    "stage %s: contribution tables disagree with the booster for %d of %d "
                    "rows; those rows use LightGBM's pred_contrib",
                    self.name,
                    int(off.sum()),
                    len(raw),
                )
                self._warned = True
            contrib[off] = self._pred_contrib(matrix[off])
        return raw, contrib

    def contributions(self, X: Features) -> np.ndarray:
        """The contributions of :meth:`explain` (base value last)."""
        return self.explain(X)[1]

    def _pred_contrib(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(
            self.booster.predict(matrix, pred_contrib=True, num_threads=LGBM_THREADS),
            dtype=float,
        )

    def contribution_tables(self) -> ContributionTables | None:
        """The booster's :class:`ContributionTables`, built on first use (None: none)."""
        tables = getattr(self, "_tables", None)
        if tables is None:
            tables = ContributionTables.build(self.booster) or False
            self._tables = tables
        return tables or None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_tables", None)  # rebuilt on first use
        state.pop("_warned", None)
        return state


@dataclass
class FunnelModel:
    """Raw canonical lead rows in, ``p_accept``, ``p_close``, ``score``, ``tier`` out."""

    features: LeadFeatures
    stages: dict[str, StageModel]
    score_low_logit: float
    score_high_logit: float
    tier_thresholds: dict[str, float]
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The explanation settings of the run that trained the model (reasons, thresholds).
    explain_settings: ExplainConfig = field(default_factory=ExplainConfig)

    @property
    def has_accept(self) -> bool:
        return ACCEPT in self.stages

    @property
    def points_per_logit(self) -> float:
        """Score points per unit of close log-odds."""
        return (SCORE_MAX - SCORE_MIN) / (self.score_high_logit - self.score_low_logit)

    def score_from_logit(self, close_logit: np.ndarray, clip: bool = True) -> np.ndarray:
        """0-100 score from calibrated close log-odds (linear, clipped to the scale)."""
        score = SCORE_MIN + self.points_per_logit * (
            np.asarray(close_logit, dtype=float) - self.score_low_logit
        )
        return np.clip(score, SCORE_MIN, SCORE_MAX) if clip else score

    def tier_of(self, score: np.ndarray) -> np.ndarray:
        """Tier letter per score: the best tier whose threshold the score reaches."""
        score = np.asarray(score, dtype=float)
        names = list(self.tier_thresholds)
        out = np.full(score.shape, names[-1], dtype=object)
        for name in reversed(names[:-1]):
            out[score >= self.tier_thresholds[name]] = name
        return out

    def transform(self, leads: pd.DataFrame) -> pd.DataFrame:
        """Model features of raw canonical lead rows as the typed frame training uses."""
        return self.features.transform(leads)

    def matrix(self, leads: Leads) -> np.ndarray:
        """The float matrix the boosters score, for lead rows (a frame or plain records).

        Its category codes are the features' (:attr:`LeadFeatures.booster_categories`),
        the lists every booster of :func:`fit_funnel` is trained with; a model whose
        boosters were trained on other lists is refused rather than scored wrongly.
        """
        categories = self.features.booster_categories
        for stage in self.stages.values():
            if stage.booster.pandas_categorical != categories:
                raise ValueError(
                    _(
                        "stage {stage}: its booster was trained on other category lists than "
                        "the model's features; refit the model"
                    ).format(stage=stage.name)
                )
        return self.features.transform_matrix(as_columns(leads))

    def predict(self, leads: Leads) -> pd.DataFrame:
        """Scores for raw canonical lead rows (same order; ``lead_id`` kept when given)."""
        leads = as_columns(leads)
        return self.predict_features(self.matrix(leads), leads)

    def predict_features(self, X: Features, leads: LeadColumns | None = None) -> pd.DataFrame:
        """Scores for already-transformed features (their matrix, or the frame)."""
        out: dict[str, np.ndarray] = {}
        if leads is not None and schema.LEAD_ID in leads:
            out[schema.LEAD_ID] = leads[schema.LEAD_ID].astype(str).to_numpy()
        out |= self.predict_columns(X)
        return pd.DataFrame(out, index=range(len(X)))

    def predict_columns(
        self, X: Features, close_raw: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """:attr:`output_columns` as arrays, without building a frame.

        ``close_raw``: the close booster's raw output for ``X`` when already known (from
        :meth:`StageModel.explain`), which saves predicting it again.
        """
        out: dict[str, np.ndarray] = {}
        if self.has_accept:
            out["p_accept"] = self.stages[ACCEPT].proba(X)
        close = self.stages[CLOSE]
        raw = close.raw(X) if close_raw is None else close_raw
        close_logit = close.calibrated_logit(raw)
        out["p_close"] = sigmoid(close_logit)
        out["score"] = self.score_from_logit(close_logit)
        out["tier"] = self.tier_of(out["score"])
        return out

    @property
    def output_columns(self) -> list[str]:
        cols = ["p_accept"] if self.has_accept else []
        return [*cols, "p_close", "score", "tier"]


def fit_stage(
    name: str,
    X: pd.DataFrame,
    y: np.ndarray,
    calibrate: np.ndarray,
    config: TrainConfig,
    say: Callable[[str], None] | None = None,
    monotone: list[int] | None = None,
) -> tuple[StageModel, np.ndarray]:
    """Fit one stage on the fit window ``X``; Platt-calibrate on the newest leads.

    Settings and trees are chosen on folds (:func:`leadmodel.tuning.select`); the booster
    is then fitted on every row with them. ``calibrate`` marks the newest leads: the
    calibration line is fitted on their out-of-fold log-odds, so the probabilities follow
    the current base rate. ``monotone``: LightGBM's monotone constraints per feature.
    Returns the stage and those leads' calibrated log-odds.
    """
    selection = tuning.select(X, y, config, say=say, name=name, monotone=monotone)
    booster = tuning.fit_booster(X, y, selection)
    stage = StageModel(name=name, booster=booster, best_iteration=selection.rounds)
    stage.selection = selection.summary()
    raw = selection.oof_raw[calibrate]
    y_cal = y[calibrate]
    if len(np.unique(y_cal)) < 2:  # too few recent decisions: calibrate on all folds
        raw, y_cal = selection.oof_raw, y
    platt = LogisticRegression(C=_PLATT_C, solver="lbfgs", max_iter=1000)
    platt.fit(raw.reshape(-1, 1), y_cal)
    stage.calib_slope = float(platt.coef_[0, 0])
    stage.calib_intercept = float(platt.intercept_[0])
    return stage, stage.calibrated_logit(selection.oof_raw[calibrate])


def _decided(frame: pd.DataFrame, label: str) -> pd.Series:
    return frame[label].notna() if label in frame else pd.Series(False, index=frame.index)


def fit_funnel(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    config: TrainConfig,
    say: Callable[[str], None] | None = None,
) -> FunnelModel:
    """Fit the funnel on the fit window: time-ordered ``train`` rows, then the newer ``valid``.

    Both stages are fitted on all of it (trees chosen by folds); ``valid``, the newest
    leads, calibrates them and anchors the score and the tier cut-offs, each on
    out-of-fold scores.
    """
    window = pd.concat([train, valid], ignore_index=True)
    newest = np.r_[np.zeros(len(train), dtype=bool), np.ones(len(valid), dtype=bool)]
    features = LeadFeatures(
        exclude=tuple(config.features.exclude),
        min_category_count=config.features.min_category_count,
        max_distinct_share=config.features.max_distinct_share,
        time_features=config.features.time_features,
        awareness_monotone=config.features.awareness_monotone,
    ).fit(window)
    monotone = features.monotone_constraints()
    X = features.transform(window)
    stages: dict[str, StageModel] = {}
    for name in STAGES:
        label = STAGE_LABEL[name]
        decided = _decided(window, label).to_numpy()
        if name == ACCEPT and (decided[~newest].sum() == 0 or decided[newest].sum() == 0):
            continue  # the export has no acceptance decisions: close stage alone
        if decided.sum() == 0:
            raise ValueError(
                _("no lead has a decided '{label}' outcome: nothing to learn from").format(
                    label=label
                )
            )
        y = window.loc[decided, label].to_numpy(dtype=float)
        X_stage = X[decided].reset_index(drop=True)
        stages[name], logit_newest = fit_stage(
            name, X_stage, y, newest[decided], config, say, monotone
        )
        if name == CLOSE:
            # the newest leads as scored out of sample: decided ones out of fold, open
            # ones (never fitted on) by the stage itself
            close, open_newest = stages[CLOSE], newest & ~decided
            open_logit = (
                close.calibrated_logit(close.raw(X[open_newest])) if open_newest.any() else []
            )
            valid_logit = np.r_[logit_newest, open_logit]
    low, high = np.quantile(valid_logit, [config.score.low_quantile, config.score.high_quantile])
    if not high > low:
        high = low + 1.0
    model = FunnelModel(
        features=features,
        stages=stages,
        score_low_logit=float(low),
        score_high_logit=float(high),
        tier_thresholds={},
        explain_settings=config.explain,
    )
    model.tier_thresholds = choose_tier_thresholds(
        model.score_from_logit(valid_logit), config.tiers.shares
    )
    return model


def choose_tier_thresholds(scores: np.ndarray, shares: dict[str, float]) -> dict[str, float]:
    """Score cut-offs so that each tier holds its share of the (validation) leads."""
    names = list(shares)
    thresholds: dict[str, float] = {}
    cumulative = 0.0
    for name in names[:-1]:
        cumulative += shares[name]
        thresholds[name] = float(np.quantile(scores, 1.0 - cumulative))
    thresholds[names[-1]] = SCORE_MIN
    return thresholds
