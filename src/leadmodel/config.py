"""Typed, inert training configuration, loaded from YAML (``training/configs/*.yaml``).

Every threshold the training job uses lives here and is logged with the run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from leadmodel import i18n
from leadmodel.i18n import N_, _, pgettext

#: The shipped training config: package data, so an installed wheel trains with it too
#: (``training/configs/default.yaml`` in the repository is a link to this file).
DEFAULT_CONFIG_PATH = Path(__file__).with_name("configs") / "default.yaml"
#: Environment variable that pins LightGBM's training threads (tests and CI set 1).
THREADS_ENV = "LEADMODEL_THREADS"
#: The registered model of the canonical lead table (no mapping, no name set).
DEFAULT_MODEL_NAME = "lead-scorer"
#: A registered model name that is safe inside ``models:/NAME@alias`` URIs.
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SplitConfig(_Strict):
    test_share: float = Field(0.2, gt=0, lt=1, description="Newest share of leads held out.")
    valid_share: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="Newest share of the rest: calibration, score anchors and tier cut-offs.",
    )


class LightGBMConfig(_Strict):
    """The settings the search starts from (its first trial), and the fixed ones."""

    n_estimators: int = Field(3000, ge=1, description="Most trees; folds stop it earlier.")
    learning_rate: float = Field(0.03, gt=0)
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
    early_stopping_rounds: int = Field(
        100, ge=1, description="Rounds without a better fold log loss before a fold stops."
    )
    num_threads: int = Field(
        0,
        ge=0,
        description=(
            "LightGBM threads for training; 0 = the machine's cores. LEADMODEL_THREADS, when "
            "set, overrides it (tests and CI pin 1). Scoring keeps its own single thread."
        ),
    )


class TuningConfig(_Strict):
    """How the number of trees and a few LightGBM settings are chosen: folds, not time.

    Every trial is judged by the mean log loss of stratified random folds of the fit
    window (all leads but the test slice): random folds share one base rate, so a close
    rate that drifts over time cannot make the first tree look best, as stopping on the
    newest slice did. The first trial is the ``lightgbm:`` settings themselves.
    """

    folds: int = Field(3, ge=2, le=10, description="Stratified random folds of the fit window.")
    trials: int = Field(
        8, ge=1, description="Settings tried per stage (1 = only the lightgbm: settings)."
    )
    timeout_s: float = Field(
        1800.0,
        gt=0,
        description=(
            "Wall-clock cap on one stage's search; a search cut short says so in the run "
            "(the trial count then depends on the machine, so results may differ)."
        ),
    )
    search_rows: int = Field(
        100_000,
        ge=100,
        description=(
            "Larger fit windows are searched on a stratified sample of this many leads; "
            "the trees for all of them come from one more fold run with the chosen settings."
        ),
    )
    num_leaves: tuple[int, int] = (4, 63)
    learning_rate: tuple[float, float] = (0.01, 0.15)
    min_child_samples: tuple[int, int] = (10, 200)
    reg_lambda: tuple[float, float] = (0.01, 100.0)
    colsample_bytree: tuple[float, float] = (0.3, 1.0)

    @model_validator(mode="after")
    def _ranges(self) -> TuningConfig:
        for name in ("num_leaves", "learning_rate", "min_child_samples", "reg_lambda"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(
                    _("tuning.{name}: need 0 < low <= high (got {low}, {high})").format(
                        name=name, low=number_text(low), high=number_text(high)
                    )
                )
        low, high = self.colsample_bytree
        if not 0 < low <= high <= 1:
            raise ValueError(
                _("tuning.colsample_bytree: need 0 < low <= high <= 1 (got {low}, {high})").format(
                    low=number_text(low), high=number_text(high)
                )
            )
        return self


class FeatureConfig(_Strict):
    exclude: list[str] = Field(default_factory=list, description="Never used as features.")
    min_category_count: int = Field(10, ge=1, description="Rarer categories become unknown.")
    max_distinct_share: float = Field(
        0.9,
        gt=0,
        le=1,
        description=(
            "A text column is an identifier (dropped) only when its distinct values per "
            "training row exceed this: nearly every lead has its own value. Categories "
            "that repeat (campaigns, landing pages, cities) are features at any count."
        ),
    )
    time_features: bool = Field(
        True, description="Day of week (and hour, when there is a time part) of created_at."
    )
    awareness_monotone: bool = Field(
        True,
        description=(
            "Prior awareness as ordered levels none < low < high, with a constraint that a "
            "lead who knows the company better is never scored lower (the study's finding)."
        ),
    )


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
            raise ValueError(_("leakage.warn_auc must not exceed leakage.stop_auc"))
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
            raise ValueError(
                _("tiers.shares must be positive and add up to 1 (got {total})").format(
                    total=number_text(total)
                )
            )
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


class ReadinessConfig(_Strict):
    """When a model is fit to serve: the verdict every run gives (Dynamics' "ready")."""

    bootstrap: int = Field(200, ge=20, description="Bootstrap resamples of the test slice.")
    level: float = Field(0.95, gt=0.5, lt=1, description="Coverage of the AUC interval.")
    min_auc_low: float = Field(
        0.55, ge=0.5, lt=1, description="'Clearly above 0.5': the interval's low end reaches this."
    )
    max_baseline_gap: float = Field(
        0.0,
        ge=0,
        description=(
            "Ready needs the paired bootstrap interval of close ROC-AUC minus the best "
            "baseline's to reach -this or above (0: a baseline clearly ahead stops it)."
        ),
    )
    min_leads: int = Field(
        1000,
        ge=0,
        description="Decided leads the export needs before a model may be champion "
        "(Salesforce Einstein asks for 1,000).",
    )
    min_wins: int = Field(
        120,
        ge=0,
        description="Won leads needed (Einstein: 120 conversions).",
    )
    min_per_outcome: int = Field(
        40,
        ge=0,
        description="Leads of each outcome of each stage (won and lost, accepted and "
        "rejected) needed (Dynamics 365 asks for 40 of each).",
    )


class RegistryConfig(_Strict):
    name: str = Field(
        DEFAULT_MODEL_NAME,
        pattern=MODEL_NAME_PATTERN,
        description="Registered model; used only when set: else the mapping's model_name.",
    )
    max_auc_drop: float = Field(0.005, ge=0, description="Champion rule: close ROC-AUC drop.")
    max_brier_increase: float = Field(0.0, ge=0, description="Champion rule: Brier increase.")


class RetrainConfig(_Strict):
    """What ``leadmodel retrain`` learns from: the newest window of an export."""

    window_days: int | None = Field(
        365,
        ge=1,
        description=(
            "Days of leads up to the export's newest one that a retrain learns from (older "
            "leads are left out and counted); null = the whole export. Needs a date order "
            "(created_at, or a mapping's order_by that is a date)."
        ),
    )


class ExplainConfig(_Strict):
    """How explanations read: reasons per lead, what counts as a reason, the views' limits."""

    reasons: int = Field(3, ge=1, description="Reasons shown per lead by default.")
    min_reason_points: float = Field(
        0.1, ge=0, description="Smaller contributions (in points) are not reasons."
    )
    text_decimals: int = Field(1, ge=0, le=6, description="Decimals of numbers in reason texts.")
    threshold_step: int = Field(
        1, ge=1, le=50, description="Hand-over thresholds: every this many score points."
    )
    segment_min_leads: int = Field(
        30, ge=1, description="Segments with fewer (decided) leads are not compared."
    )


class ReportConfig(_Strict):
    """What the HTML report shows and how much it explains (``leadmodel report``, the run's)."""

    explain_rows: int = Field(
        20_000, ge=100, description="Explain at most this many leads (a seeded sample beyond)."
    )
    run_explain_rows: int = Field(
        4_000, ge=100, description="Leads explained for the report a training run logs."
    )
    beeswarm_rows: int = Field(2_000, ge=100, description="Points drawn in the beeswarm plot.")
    example_reasons: int = Field(3, ge=1, description="Reasons shown per example lead.")
    target_accept_rate: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Without a capacity: the lowest threshold at which sales accepts this share.",
    )
    handover_table_step: int = Field(
        10,
        ge=1,
        le=50,
        description="Hand-over thresholds listed in the table (the plot shows all).",
    )
    max_drivers: int = Field(12, ge=1, description="Fields in the importance chart and beeswarm.")


class MonitorConfig(_Strict):
    """``leadmodel monitor``: reference bins kept with the model, and the alarm thresholds.

    Drift compares each weekly cohort of logged scores with the reference distributions
    the model keeps from its test slice; quality compares realised outcomes with what the
    model predicted, on cohorts old enough to be decided.
    """

    bins: int = Field(
        10, ge=2, le=50, description="Quantile bins per numeric field and of the score."
    )
    psi_floor: float = Field(
        1e-4, gt=0, lt=0.01, description="Share an empty bin counts as in the PSI (no log 0)."
    )
    min_cohort_leads: int = Field(
        200, ge=1, description="Drift is judged on weekly cohorts of at least this many leads."
    )
    psi_warn: float = Field(0.10, gt=0, description="Population stability index: warn.")
    psi_alarm: float = Field(0.25, gt=0, description="Population stability index: alarm.")
    unseen_warn: float = Field(
        0.02,
        gt=0,
        le=1,
        description="Rise in the share of values the model never saw (scored as unknown): warn.",
    )
    unseen_alarm: float = Field(0.05, gt=0, le=1, description="... alarm.")
    missing_warn: float = Field(
        0.05, gt=0, le=1, description="Change in a field's missing share (absolute): warn."
    )
    missing_alarm: float = Field(0.15, gt=0, le=1, description="... alarm.")
    min_decided_share: float = Field(
        0.98,
        gt=0,
        le=1,
        description=(
            "A cohort counts for quality once this share of its leads in the outcomes export "
            "has a decided outcome (the rest still open: label delay)."
        ),
    )
    min_outcome_leads: int = Field(
        200, ge=1, description="Decided leads a cohort needs before its quality is judged."
    )
    calibration_warn: float = Field(
        1.25,
        gt=1,
        description="Realised over predicted rate (or its inverse) from which to warn.",
    )
    calibration_alarm: float = Field(1.5, gt=1, description="... and to raise an alarm.")
    calibration_alpha: float = Field(
        0.01,
        gt=0,
        lt=1,
        description=(
            "The gap must also be beyond noise: a week's binomial z-score beyond the normal "
            "quantile of alpha / (2 x weeks judged), so stable data raises a calibration "
            "flag for a stage in at most this share of runs (Bonferroni)."
        ),
    )
    auc_warn_drop: float = Field(
        0.03,
        ge=0,
        description="Warn when the ROC-AUC interval's high end lies this far below the "
        "model's test figure.",
    )
    auc_alarm_drop: float = Field(0.08, ge=0, description="... alarm.")
    bootstrap: int = Field(200, ge=20, description="Bootstrap resamples of a ROC-AUC interval.")
    bootstrap_max_rows: int = Field(
        50_000,
        ge=100,
        description="Larger cohorts are bootstrapped on a seeded sample of this many leads "
        "(a wider, conservative interval).",
    )
    level: float = Field(0.95, gt=0.5, lt=1, description="Coverage of the ROC-AUC interval.")
    seed: int = Field(0, description="Seed of the bootstrap.")

    @model_validator(mode="after")
    def _ordered(self) -> MonitorConfig:
        for name in ("psi", "unseen", "missing", "calibration"):
            warn, alarm = getattr(self, f"{name}_warn"), getattr(self, f"{name}_alarm")
            if warn > alarm:
                raise ValueError(
                    _("monitor.{name}_warn must not exceed monitor.{name}_alarm").format(name=name)
                )
        if self.auc_warn_drop > self.auc_alarm_drop:
            raise ValueError(_("monitor.auc_warn_drop must not exceed monitor.auc_alarm_drop"))
        return self


class TrainConfig(_Strict):
    """The whole training configuration (logged as run params)."""

    seed: int = 42
    experiment: str = "leadmodel"
    split: SplitConfig = Field(default_factory=SplitConfig)
    lightgbm: LightGBMConfig = Field(default_factory=LightGBMConfig)
    tuning: TuningConfig = Field(default_factory=TuningConfig)
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    leakage: LeakageConfig = Field(default_factory=LeakageConfig)
    tiers: TierConfig = Field(default_factory=TierConfig)
    score: ScoreConfig = Field(default_factory=ScoreConfig)
    rule_points: RulePointsConfig = Field(default_factory=RulePointsConfig)
    readiness: ReadinessConfig = Field(default_factory=ReadinessConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    explain: ExplainConfig = Field(default_factory=ExplainConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)

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


def training_threads(config: TrainConfig) -> int:
    """LightGBM training threads: ``LEADMODEL_THREADS``, else the config, 0 = all cores."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        try:
            threads = int(raw)
        except ValueError:
            raise ConfigError(
                _("{name}: not a whole number: {value}").format(name=THREADS_ENV, value=repr(raw))
            ) from None
        if threads < 0:
            raise ConfigError(
                _("{name}: must be >= 0, got {value}").format(
                    name=THREADS_ENV, value=i18n.number(threads)
                )
            )
    else:
        threads = config.lightgbm.num_threads
    return threads or os.cpu_count() or 1


class ConfigError(Exception):
    """A config file that cannot be used; the message is one clear line."""


def load_config(path: str | Path | None = None) -> TrainConfig:
    """Load a training config from YAML (``None``: the shipped default)."""
    path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    if not path.is_file():
        if path == DEFAULT_CONFIG_PATH:  # a broken installation, not a user's mistake
            raise ConfigError(
                _("the shipped default config is missing: {path}; reinstall leadmodel").format(
                    path=path
                )
            )
        raise ConfigError(_("config file not found: {path}").format(path=path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(
            _("{path}: not valid YAML ({error})").format(path=path, error=exc.__class__.__name__)
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            _("{path}: expected a mapping of settings at the top level").format(path=path)
        )
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or _("(top level)")
        raise ConfigError(
            _("{path}: {setting}: {problem}").format(
                path=path, setting=where, problem=validation_message(first)
            )
        ) from None


# --- pydantic's verdicts as leadmodel words them ------------------------------------------
#: pydantic's message per error type (its English text, the source of the translation);
#: ``{gt}`` ... are the error's context values.
PYDANTIC_MESSAGES: Final[dict[str, str]] = {
    "greater_than": N_("Input should be greater than {gt}"),
    "greater_than_equal": N_("Input should be greater than or equal to {ge}"),
    "less_than": N_("Input should be less than {lt}"),
    "less_than_equal": N_("Input should be less than or equal to {le}"),
    "int_parsing": N_("Input should be a valid integer, unable to parse string as an integer"),
    "int_type": N_("Input should be a valid integer"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "float_parsing": N_("Input should be a valid number, unable to parse string as a number"),
    "float_type": N_("Input should be a valid number"),
    "bool_parsing": N_("Input should be a valid boolean, unable to interpret input"),
    "bool_type": N_("Input should be a valid boolean"),
    "string_type": N_("Input should be a valid string"),
    "dict_type": N_("Input should be a valid dictionary"),
    "list_type": N_("Input should be a valid list"),
    "tuple_type": N_("Input should be a valid tuple"),
    "missing": N_("Field required"),
    "extra_forbidden": N_("Extra inputs are not permitted"),
    "literal_error": N_("Input should be {expected}"),
    "string_pattern_mismatch": N_("String should match pattern '{pattern}'"),
}


def validation_message(error: ErrorDetails) -> str:
    """What one pydantic error says, in the current language (settings, mappings).

    English is pydantic's own text; other languages translate it by error type (a
    ``ValueError`` of a validator is already in the current language). A type without a
    translation says "invalid value" with pydantic's text in brackets.
    """
    if i18n.current() == i18n.DEFAULT_LANGUAGE:
        return error["msg"]
    context = error.get("ctx") or {}
    if error["type"] == "value_error" and "error" in context:
        return str(context["error"])
    template = PYDANTIC_MESSAGES.get(error["type"])
    if template is None:
        return _("invalid value ({detail})").format(detail=error["msg"])
    values = {name: _context_text(value) for name, value in context.items()}
    return _(template).format(**values)


def _context_text(value: Any) -> str:
    """A pydantic context value as the language writes it (numbers, ``'a' or 'b'``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number_text(value)
    return str(value).replace(" or ", " " + pgettext("one of several values", "or") + " ")


def number_text(value: float) -> str:
    """A setting's number with the decimals it has (up to six), as the language writes it."""
    decimals = next((d for d in range(6) if round(value, d) == round(value, 6)), 6)
    return i18n.number(value, decimals, grouping=False)
