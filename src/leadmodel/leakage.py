"""Leakage guard: find columns that were probably recorded after the outcome.

Run before any fit. For every candidate feature column and every label the data has, it
measures how well the column *alone* predicts the label, out of sample (fitted on one
random half of the decided leads, scored on the other), and how well the column's
*missingness* alone does. A column is stopped when

- alone it reaches ``stop_auc`` ROC-AUC (no honest lead attribute is that good), or
- it dominates a quick model fitted on all columns (``dominance_share`` of the total
  gain or more: the rest of the data adds next to nothing, typical of an outcome or
  truth column merged into an export), once its own AUC is at least ``dominance_min_auc``;

and warned about from ``warn_auc`` on. A partly filled column is judged a third way too:
on the rows where it is filled (sales-filled fields are often filled only for the leads
sales talked to, and there they tell the outcome). Columns in the allow list are reported but never
stopped. Training refuses to fit while a stop finding remains.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from leadmodel import i18n
from leadmodel.config import LeakageConfig
from leadmodel.features import LeadFeatures, is_numeric_column, to_numeric
from leadmodel.i18n import _
from leadmodel.model import LGBM_THREADS

#: Quantile bins used to score a numeric column on its own.
NUMERIC_BINS = 20
#: Pseudo-count pulling a small category's rate towards the overall rate.
RATE_PRIOR_COUNT = 20
#: Boosting rounds of the quick all-column model used by the dominance rule.
ALL_COLUMNS_ROUNDS = 500
ALL_COLUMNS_PATIENCE = 30
#: Decided leads screened per label at most (a seeded sample): AUCs of single columns
#: are stable long before this, and the guard stays a small part of training time.
MAX_ROWS = 40_000
#: A partly filled column is also judged on the rows where it is filled: sales-filled
#: fields are often filled only for the leads sales talked to, and tell the outcome there.
FILLED_SHARE_RANGE = (0.05, 0.95)
STOP, WARN, ALLOWED = "stop", "warn", "allowed"
#: Decimals of a column's ROC-AUC in the guard's sentences.
AUC_DECIMALS = 3


@dataclass(frozen=True)
class Finding:
    """One suspicious column for one label."""

    column: str
    label: str
    kind: str  # "values", "missingness" or "values where filled"
    auc: float
    level: str  # stop / warn / allowed
    rule: str

    def sentence(self) -> str:
        """The finding as one sentence, in the current language."""
        if self.kind == "missingness":
            text = _(
                "'{column}' predicts '{label}' by its missingness alone with ROC-AUC {auc} ({rule})"
            )
        elif self.kind == "values where filled":
            text = _(
                "'{column}' alone, on the rows where it is filled, predicts '{label}' with "
                "ROC-AUC {auc} ({rule})"
            )
        else:
            text = _("'{column}' alone predicts '{label}' with ROC-AUC {auc} ({rule})")
        return text.format(
            column=self.column,
            label=self.label,
            auc=i18n.number(self.auc, AUC_DECIMALS),
            rule=self.rule,
        )


@dataclass
class LeakageReport:
    """All findings, and the AUC of all columns together per label."""

    findings: list[Finding] = field(default_factory=list)
    all_columns_auc: dict[str, float] = field(default_factory=dict)
    single_auc: dict[str, dict[str, float]] = field(default_factory=dict)
    gain_share: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def stops(self) -> list[Finding]:
        return [f for f in self.findings if f.level == STOP]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARN]

    @property
    def stopped_columns(self) -> list[str]:
        return sorted({f.column for f in self.stops})

    def message(self) -> str:
        """One clear paragraph naming the stopped columns and how to proceed."""
        cols = ", ".join(f"'{c}'" for c in self.stopped_columns)
        details = "; ".join(f.sentence() for f in self.stops)
        return _(
            "leakage guard stopped training: {columns} look recorded after the outcome "
            "({details}). Drop them in the mapping (`drop:`) or exclude them in the config "
            "(`features.exclude`); if you are sure they are known at hand-over, allow them "
            "explicitly (`leakage.allow` in the config or `allow_features` in the mapping)."
        ).format(columns=cols, details=details)


class LeakageError(Exception):
    """Training stopped by the leakage guard; ``report`` holds the findings."""

    def __init__(self, report: LeakageReport) -> None:
        super().__init__(report.message())
        self.report = report


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """Direction-free ROC-AUC (a column may predict either way)."""
    if len(np.unique(y)) < 2 or len(np.unique(score)) < 2:
        return 0.5
    auc = float(roc_auc_score(y, score))
    return max(auc, 1.0 - auc)


def _encode_keys(values: pd.Series) -> pd.Series:
    """Group keys for one column: quantile bins for numbers, the text itself otherwise."""
    if is_numeric_column(values):
        numbers = to_numeric(values)
        present = numbers.dropna()
        if present.nunique() > NUMERIC_BINS:
            edges = np.unique(np.quantile(present, np.linspace(0, 1, NUMERIC_BINS + 1)))
            keys = pd.Series(np.digitize(numbers, edges[1:-1]), index=values.index).astype(str)
        else:
            keys = numbers.astype(str)
        return keys.mask(numbers.isna(), "<missing>")
    text = values.astype("string").str.strip()
    return text.fillna("<missing>").astype(str)


def single_column_auc(values: pd.Series, y: np.ndarray, fit_mask: np.ndarray) -> float:
    """Out-of-sample AUC of the column alone: group rates on one half, scored on the other."""
    keys = _encode_keys(values).to_numpy()
    y = np.asarray(y, dtype=float)
    prior = y[fit_mask].mean()
    fit = (
        pd.DataFrame({"k": keys[fit_mask], "y": y[fit_mask]})
        .groupby("k")["y"]
        .agg(["sum", "count"])
    )
    rate = (fit["sum"] + RATE_PRIOR_COUNT * prior) / (fit["count"] + RATE_PRIOR_COUNT)
    scored = pd.Series(keys[~fit_mask]).map(rate).fillna(prior).to_numpy()
    return _auc(y[~fit_mask], scored)


def _all_columns_model(
    frame: pd.DataFrame, y: np.ndarray, fit_mask: np.ndarray, seed: int
) -> tuple[float, dict[str, float]]:
    """AUC and gain share per column of a quick model on all columns.

    The model is early-stopped on the half it is scored on.

    Early stopping on the half it is scored on makes this reference slightly optimistic,
    which is the safe side: the reference is never weaker than it should be.
    """
    features = LeadFeatures(time_features=False, awareness_monotone=False).fit(frame[fit_mask])
    X = features.transform(frame)
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 7,
        "min_child_samples": 40,
        "lambda_l2": 10.0,
        "seed": seed,
        "deterministic": True,
        "num_threads": LGBM_THREADS,
        "verbosity": -1,
    }
    held_out = lgb.Dataset(X[~fit_mask], label=y[~fit_mask])
    booster = lgb.train(
        params,
        lgb.Dataset(X[fit_mask], label=y[fit_mask]),
        num_boost_round=ALL_COLUMNS_ROUNDS,
        valid_sets=[held_out],
        callbacks=[lgb.early_stopping(ALL_COLUMNS_PATIENCE, verbose=False)],
    )
    auc = _auc(y[~fit_mask], booster.predict(X[~fit_mask], num_iteration=booster.best_iteration))
    gain = booster.feature_importance("gain", iteration=booster.best_iteration)
    share = gain / gain.sum() if gain.sum() > 0 else gain
    return auc, dict(zip(features.feature_names_, share.tolist(), strict=True))


def check_leakage(
    frame: pd.DataFrame,
    columns: list[str],
    labels: list[str],
    config: LeakageConfig,
    allow: set[str] | None = None,
    seed: int = 0,
) -> LeakageReport:
    """Screen ``columns`` of ``frame`` against each label in ``labels``."""
    allow = set(allow or ()) | set(config.allow)
    report = LeakageReport()
    rng = np.random.default_rng(seed)
    for label in labels:
        if label not in frame:
            continue
        decided = frame[label].notna().to_numpy()
        if decided.sum() < 2:
            continue
        rows = np.flatnonzero(decided)
        if len(rows) > MAX_ROWS:
            rows = np.sort(rng.choice(rows, MAX_ROWS, replace=False))
        sub = frame.iloc[rows][columns].reset_index(drop=True)
        y = frame.iloc[rows][label].to_numpy(dtype=float)
        if len(np.unique(y)) < 2:
            continue
        fit_mask = rng.random(len(sub)) < 0.5
        all_auc, shares = _all_columns_model(sub, y, fit_mask, seed) if columns else (0.5, {})
        report.gain_share[label] = shares
        report.all_columns_auc[label] = all_auc
        report.single_auc[label] = {}
        for col in columns:
            values = sub[col]
            checks = [("values", single_column_auc(values, y, fit_mask))]
            missing = values.isna().to_numpy()
            if 0 < missing.sum() < len(missing):
                checks.append(("missingness", _auc(y, missing.astype(float))))
            filled_share = 1.0 - missing.mean()
            if FILLED_SHARE_RANGE[0] < filled_share < FILLED_SHARE_RANGE[1]:
                filled = ~missing
                checks.append(
                    (
                        "values where filled",
                        single_column_auc(
                            values[filled].reset_index(drop=True), y[filled], fit_mask[filled]
                        ),
                    )
                )
            report.single_auc[label][col] = checks[0][1]
            for kind, auc in checks:
                share = shares.get(col, 0.0) if kind == "values" else 0.0
                level, rule = _judge(auc, share, config)
                if level is None:
                    continue
                if col in allow:
                    level = ALLOWED
                report.findings.append(Finding(col, label, kind, auc, level, rule))
    return report


def _judge(auc: float, share: float, config: LeakageConfig) -> tuple[str | None, str]:
    if auc >= config.stop_auc:
        return STOP, _("stop at {limit}").format(limit=i18n.number(config.stop_auc, 2))
    if auc >= config.dominance_min_auc and share >= config.dominance_share:
        return STOP, _("and carries {share} of an all-column model's gain").format(
            share=i18n.percent(share)
        )
    if auc >= config.warn_auc:
        return WARN, _("warn at {limit}").format(limit=i18n.number(config.warn_auc, 2))
    return None, ""
