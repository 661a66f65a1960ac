"""Choosing a stage's LightGBM settings and number of trees by folds, not by time.

Every candidate is judged by :func:`lightgbm.cv` on stratified random folds of the fit
window (all leads but the test slice), with early stopping on the folds' mean log loss.
Random folds share one base rate, so a close rate that drifts over time cannot make the
first tree look best (stopping on the newest slice did exactly that: one tree on a
telemarketing export whose close rate rose from 6 % to 28 %). The base rate of the newest
leads is then learnt by the calibration, on out-of-fold scores of those leads.

A small search over a few settings (:class:`leadmodel.config.TuningConfig`) runs with
Optuna's TPE sampler, seeded; its first trial is the ``lightgbm:`` settings themselves,
so the search can only improve on them (on the folds). On a fit window larger than
``tuning.search_rows`` the search runs on a stratified sample of that size, and one more
fold run on all rows with the chosen settings sets the number of trees, so the cost of
the search stops growing with the rows. The budget is a trial count, so a
fixed seed and thread count give the same model on any machine; the time cap only ends
a search that would run far longer than planned, and the run then says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

from leadmodel.config import TrainConfig, training_threads
from leadmodel.i18n import ngettext

#: The LightGBM setting each searched config field sets.
SEARCHED: dict[str, str] = {
    "num_leaves": "num_leaves",
    "learning_rate": "learning_rate",
    "min_child_samples": "min_child_samples",
    "reg_lambda": "lambda_l2",
    "colsample_bytree": "feature_fraction",
}
#: Searched on a log scale (the others on a linear one).
LOG_SCALE = frozenset({"num_leaves", "learning_rate", "min_child_samples", "reg_lambda"})
INTEGER = frozenset({"num_leaves", "min_child_samples"})


def lgbm_params(config: TrainConfig) -> dict[str, Any]:
    """LightGBM parameters of the ``lightgbm:`` settings (the search's first trial)."""
    c = config.lightgbm
    return {
        "objective": "binary",
        "learning_rate": c.learning_rate,
        "num_leaves": c.num_leaves,
        "min_child_samples": c.min_child_samples,
        "bagging_fraction": c.subsample,
        "bagging_freq": c.subsample_freq,
        "feature_fraction": c.colsample_bytree,
        "lambda_l2": c.reg_lambda,
        "cat_smooth": c.cat_smooth,
        "cat_l2": c.cat_l2,
        "min_data_per_group": c.min_data_per_group,
        "max_cat_to_onehot": c.max_cat_to_onehot,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "feature_pre_filter": False,
        "num_threads": training_threads(config),
        "verbosity": -1,
    }


@dataclass
class Selection:
    """What the folds chose for one stage, and what they measured."""

    params: dict[str, Any]
    rounds: int
    cv_logloss: float
    cv_auc: float
    oof_raw: np.ndarray  # out-of-fold raw log-odds of every row, at ``rounds`` trees
    trials: int
    timed_out: bool
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    searched_rows: int = 0

    def summary(self) -> dict[str, Any]:
        """Plain values for the run's log."""
        searched = {k: self.params[v] for k, v in SEARCHED.items()}
        return {
            "rounds": self.rounds,
            "cv_logloss": self.cv_logloss,
            "cv_auc": self.cv_auc,
            "trials": self.trials,
            "timed_out": self.timed_out,
            "seconds": round(self.seconds, 2),
            "searched_rows": self.searched_rows,
            "chosen": searched,
            "history": self.history,
        }


@dataclass
class _Trial:
    params: dict[str, Any]
    rounds: int
    logloss: float
    auc: float
    boosters: list[lgb.Booster]


def _folds(y: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified random folds (fewer when the rarer class has fewer than ``k`` rows)."""
    minority = int(min(y.sum(), len(y) - y.sum()))
    if minority < 2:
        raise ValueError(
            ngettext(
                "only {count} lead of one outcome in the fit window: nothing to learn from",
                "only {count} leads of one outcome in the fit window: nothing to learn from",
                minority,
            ).format(count=minority)
        )
    splitter = StratifiedKFold(n_splits=min(k, minority), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def _cross_validate(
    X: pd.DataFrame,
    y: np.ndarray,
    params: dict[str, Any],
    folds: list[tuple[np.ndarray, np.ndarray]],
    config: TrainConfig,
) -> _Trial:
    data = lgb.Dataset(X, label=y, free_raw_data=False)
    result = lgb.cv(
        params | {"metric": ["binary_logloss", "auc"]},
        data,
        num_boost_round=config.lightgbm.n_estimators,
        folds=folds,
        callbacks=[
            lgb.early_stopping(
                config.lightgbm.early_stopping_rounds, first_metric_only=True, verbose=False
            )
        ],
        return_cvbooster=True,
    )
    logloss = result["valid binary_logloss-mean"]
    best = int(np.argmin(logloss))
    return _Trial(
        params=params,
        rounds=best + 1,
        logloss=float(logloss[best]),
        auc=float(result["valid auc-mean"][best]),
        boosters=list(result["cvbooster"].boosters),
    )


def select(
    X: pd.DataFrame,
    y: np.ndarray,
    config: TrainConfig,
    say: Callable[[str], None] | None = None,
    name: str = "",
    monotone: list[int] | None = None,
) -> Selection:
    """Search settings and trees for one stage on folds of ``X`` (the fit window).

    ``monotone``: LightGBM's ``monotone_constraints``, one per column of ``X``.
    """
    import optuna

    say = say or (lambda _msg: None)
    tuning = config.tuning
    base = lgbm_params(config)
    if monotone and any(monotone):
        base["monotone_constraints"] = list(monotone)
    y = np.asarray(y)
    sample = _sample(y, tuning.search_rows, config.seed)
    X_search = X if sample is None else X.iloc[sample].reset_index(drop=True)
    y_search = y if sample is None else y[sample]
    folds = _folds(y_search, tuning.folds, config.seed)
    best: list[_Trial] = []
    history: list[dict[str, float]] = []

    def objective(trial: optuna.Trial) -> float:
        params = dict(base)
        for key, setting in SEARCHED.items():
            low, high = getattr(tuning, key)
            log = key in LOG_SCALE
            if key in INTEGER:
                params[setting] = trial.suggest_int(key, int(low), int(high), log=log)
            else:
                params[setting] = trial.suggest_float(key, float(low), float(high), log=log)
        found = _cross_validate(X_search, y_search, params, folds, config)
        history.append(
            {"trial": trial.number, "rounds": found.rounds, "logloss": found.logloss}
            | {key: params[setting] for key, setting in SEARCHED.items()}
        )
        if not best or found.logloss < best[0].logloss:
            best[:] = [found]
        say(
            f"{name} trial {trial.number + 1}/{tuning.trials}: "
            f"fold log loss {found.logloss:.4f} with {found.rounds} trees"
        )
        return found.logloss

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.TPESampler(seed=config.seed)
    )
    study.enqueue_trial({key: _start_value(config, key) for key in SEARCHED})
    started = time.perf_counter()
    study.optimize(objective, n_trials=tuning.trials, timeout=tuning.timeout_s)
    chosen = best[0]
    if sample is not None:  # the trees for all rows: one more fold run, on all of them
        say(f"{name}: trees for all {len(y):,} leads with the chosen settings")
        folds = _folds(y, tuning.folds, config.seed)
        chosen = _cross_validate(X, y, chosen.params, folds, config)
    seconds = time.perf_counter() - started
    oof = np.empty(len(y), dtype=float)
    for booster, (_, held_out) in zip(chosen.boosters, folds, strict=True):
        part = X.iloc[held_out]
        oof[held_out] = booster.predict(part, num_iteration=chosen.rounds, raw_score=True)
    return Selection(
        params=chosen.params,
        rounds=chosen.rounds,
        cv_logloss=chosen.logloss,
        cv_auc=chosen.auc,
        oof_raw=oof,
        trials=len(study.trials),
        timed_out=len(study.trials) < tuning.trials,
        seconds=seconds,
        history=history,
        searched_rows=len(y) if sample is None else len(sample),
    )


def _sample(y: np.ndarray, rows: int, seed: int) -> np.ndarray | None:
    """A stratified random sample of ``rows`` positions (None: all rows are few enough)."""
    if len(y) <= rows:
        return None
    splitter = StratifiedShuffleSplit(n_splits=1, train_size=rows, random_state=seed)
    picked, _ = next(splitter.split(np.zeros(len(y)), y))
    return np.sort(picked)


def _start_value(config: TrainConfig, key: str) -> float:
    """The ``lightgbm:`` value of a searched setting, inside the search range."""
    low, high = getattr(config.tuning, key)
    value = getattr(config.lightgbm, key)
    return min(max(value, low), high)


def fit_booster(X: pd.DataFrame, y: np.ndarray, selection: Selection) -> lgb.Booster:
    """The stage's booster: the chosen settings and trees on every row of the fit window."""
    data = lgb.Dataset(X, label=y, free_raw_data=False)
    return lgb.train(selection.params, data, num_boost_round=selection.rounds)
