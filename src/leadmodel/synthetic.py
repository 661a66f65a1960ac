"""The synthetic CRM export, grounded in published B2B funnel facts.

The generative story, per lead:

1. A **business unit** (extra column ``business_unit``); each unit has one level of
   marketing-sales alignment (extra column ``sales_alignment``: ``misaligned`` /
   ``aligned`` / ``sla``).
2. A **channel** (``source``): inbound (marketing-sourced) about two thirds of the time,
   otherwise outbound (see :data:`leadmodel.schema.INBOUND_SOURCES`).
3. **Prior awareness** (``none`` / ``low`` / ``high``), higher for inbound leads; about a
   third of all prospects know the company before first contact. A few values are not
   recorded (empty) even in the clean export.
4. **Engagement** counts (gamma-Poisson, i.e. negative binomial) driven by one latent
   interest level that rises with awareness and is higher for inbound leads.
5. **Firmographics**: ``company_size`` (lognormal), ``industry``, ``country``, ``job_level``.
6. ``created_at`` over :data:`HISTORY_DAYS` days up to ``as_of`` (volume grows and dips
   at weekends; the relationships themselves do not change over time, so a time split is
   fair; with ``drift=True`` only the base level of the close stage moves).
7. Optionally (``campaigns=N``) a **campaign** (extra column ``campaign``, ``cmp_0042``):
   N campaigns with Zipf-like sizes (a power law in rank with an exponential cut-off:
   with 400 campaigns in 50,000 leads the biggest hold hundreds, most a few dozen and a
   long tail only a handful), independent of the other fields.

The true model is two logistic stages on the *observed* fields::

    logit p_accept       = awareness + saturating engagement + seniority x size + size
                           + industry + small inbound effect + alignment (inbound only)
    logit p(close | acc) = the same shape with its own weights, no alignment term
                           [+ drift(created_at)]          (drift=True)
    p_close              = p_accept * p(close | accepted)

With ``campaigns=N`` both logits also get the lead's campaign effect: one normal draw per
campaign and stage (sd :data:`CAMPAIGN_EFFECT_SD`), so the campaign is a real feature
(its big campaigns can be learnt), not an identifier. With ``drift=True`` the close
stage gets a time-varying intercept: a smooth ramp that rises through the older part of
the history and is flat over its newest part (from :data:`DRIFT_RAMP_END` of the way
on), so the close rate climbs several-fold from the oldest to the newest leads while
every field keeps its effect. The truth includes both.

``accepted ~ Bernoulli(p_accept)``; ``closed ~ Bernoulli(p(close | accepted))`` among
accepted leads; rejected leads are always ``closed = 0``. Recent leads may still be
undecided: ``accepted`` is empty with a probability that falls from 1 to 0 over the last
:data:`ACCEPT_PENDING_DAYS` days, ``closed`` is empty for undecided and for accepted
leads with a probability that falls to 0 over the last :data:`OPEN_WINDOW_DAYS` days
(independently of the outcome).

How strongly each field drives the labels is recorded in :data:`EFFECT_STRENGTH`;
``country``, ``business_unit`` (except through ``sales_alignment``) and ``created_at``
have no effect at all. :func:`effect_strength` gives the table for the optional
scenarios: with drift ``created_at`` moves the base rate of the close stage (and only
that, only over the older part of the history); with campaigns ``campaign`` is added.

``messy=True`` adds what real exports contain (see :func:`generate`) and records the
impossible rows it injected in :attr:`SyntheticExport.injected`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
from scipy.special import expit

from leadmodel import schema
from leadmodel.i18n import _

# --- what drives the labels ------------------------------------------------------------

#: How strongly each field drives acceptance and closing in the true model.
EFFECT_STRENGTH: Final[Mapping[str, str]] = {
    "prior_awareness": "strong",
    "email_clicks": "strong",
    "content_downloads": "moderate",
    "events_attended": "moderate",
    "website_visits": "moderate",
    "job_level": "moderate",
    "company_size": "moderate",
    "sales_alignment": "moderate",  # accept stage, inbound leads only
    "pages_viewed": "weak",
    "time_on_site_s": "weak",
    "email_opens": "weak",
    "industry": "weak",
    "source": "weak",  # inbound converts better mostly through awareness and engagement
    "country": "none",
    "business_unit": "none",  # only through its sales_alignment
    "created_at": "none",
}
#: ``created_at`` with ``drift=True``: through the base rate of the close stage only.
DRIFT_EFFECT_STRENGTH: Final = "moderate"
#: ``campaign`` with ``campaigns=N``: big campaigns differ clearly, small ones are noise.
CAMPAIGN_EFFECT_STRENGTH: Final = "moderate"

# --- volumes and time --------------------------------------------------------------------

DEFAULT_AS_OF: Final = "2026-06-30"
#: Days of history before ``as_of`` (inclusive of ``as_of``).
HISTORY_DAYS: Final = 730
#: Lead volume at the end of the history relative to its start, minus one.
VOLUME_GROWTH: Final = 0.5
#: Lead volume on Saturdays and Sundays relative to weekdays.
WEEKEND_VOLUME: Final = 0.35
#: Leads younger than this many days may not be accepted or rejected yet.
ACCEPT_PENDING_DAYS: Final = 7
#: Accepted leads younger than this many days may still be open.
OPEN_WINDOW_DAYS: Final = 60
#: P(open) = (1 - age / OPEN_WINDOW_DAYS) ** OPEN_CURVE; below 1 keeps more leads open.
OPEN_CURVE: Final = 0.5
#: Digits of the number in ``lead_id`` (``L0000001``); more when there are more leads.
LEAD_ID_DIGITS: Final = 7
LEAD_ID_PREFIX: Final = "L"

# --- business units, channels and awareness ----------------------------------------------

BUSINESS_UNITS: Final[tuple[str, ...]] = (
    "analytics",
    "billing",
    "cloud",
    "commerce",
    "data",
    "hr",
    "iot",
    "marketing",
    "payments",
    "security",
    "support",
    "workflow",
)
#: Dirichlet concentration of the business-unit volume shares (higher = more equal).
BUSINESS_UNIT_CONCENTRATION: Final = 8.0
ALIGNMENT_LEVELS: Final[tuple[str, ...]] = ("misaligned", "aligned", "sla")

INBOUND_SHARE: Final = 0.65
INBOUND_CHANNELS: Final[Mapping[str, float]] = {
    "organic_search": 0.25,
    "paid_search": 0.17,
    "social": 0.11,
    "email": 0.12,
    "content": 0.10,
    "webinar": 0.09,
    "events": 0.07,
    "referral": 0.09,
}
OUTBOUND_CHANNELS: Final[Mapping[str, float]] = {
    "cold_email": 0.45,
    "cold_call": 0.35,
    "list_import": 0.20,
}
#: P(none, low, high awareness) for inbound and for outbound leads.
AWARENESS_INBOUND: Final[tuple[float, float, float]] = (0.55, 0.30, 0.15)
AWARENESS_OUTBOUND: Final[tuple[float, float, float]] = (0.88, 0.09, 0.03)
#: Share of leads whose awareness was never recorded (empty), at random.
AWARENESS_MISSING_SHARE: Final = 0.06

# --- engagement ----------------------------------------------------------------------------

#: Latent interest: standard normal plus these shifts.
INTEREST_BY_AWARENESS: Final[tuple[float, float, float]] = (0.0, 0.5, 1.0)
INTEREST_INBOUND: Final = 0.4
#: Gamma-Poisson shape (smaller = more overdispersed counts).
COUNT_DISPERSION: Final = 2.0
#: log(mean count) = intercept + slope * interest.
VISITS_LOG_MEAN: Final[tuple[float, float]] = (0.8, 0.6)
EXTRA_PAGES_PER_VISIT: Final = 1.5
SECONDS_PER_PAGE_MEDIAN: Final = 40.0
SECONDS_PER_PAGE_SIGMA: Final = 0.6
OPENS_LOG_MEAN: Final[tuple[float, float]] = (1.0, 0.4)
#: logit P(click | open) = intercept + slope * interest.
CLICK_LOGIT: Final[tuple[float, float]] = (-2.0, 0.5)
DOWNLOADS_LOG_MEAN: Final[tuple[float, float]] = (-1.2, 0.6)
EVENTS_LOG_MEAN: Final[tuple[float, float]] = (-2.3, 0.5)
#: Channels that bring one download or one attended event with the lead itself.
DOWNLOAD_CHANNELS: Final[frozenset[str]] = frozenset({"content"})
EVENT_CHANNELS: Final[frozenset[str]] = frozenset({"events", "webinar"})

# --- firmographics ---------------------------------------------------------------------------

COMPANY_SIZE_MEDIAN: Final = 150.0
COMPANY_SIZE_SIGMA: Final = 1.6
COMPANY_SIZE_MAX: Final = 300_000
#: log10(company size) mapped linearly to 0..1 between these bounds (10 to 10,000 staff).
SIZE_LOG10_RANGE: Final[tuple[float, float]] = (1.0, 4.0)
INDUSTRIES: Final[Mapping[str, float]] = {
    "software": 0.24,
    "financial_services": 0.13,
    "manufacturing": 0.12,
    "healthcare": 0.10,
    "retail": 0.09,
    "professional_services": 0.09,
    "education": 0.07,
    "public_sector": 0.06,
    "media": 0.05,
    "logistics": 0.05,
}
COUNTRIES: Final[Mapping[str, float]] = {
    "US": 0.38,
    "GB": 0.10,
    "DE": 0.09,
    "FR": 0.07,
    "CA": 0.06,
    "NL": 0.05,
    "AU": 0.05,
    "IN": 0.05,
    "BR": 0.04,
    "JP": 0.04,
    "ES": 0.04,
    "SE": 0.03,
}
#: Job levels in increasing seniority, with their shares.
JOB_LEVELS: Final[Mapping[str, float]] = {
    "individual_contributor": 0.38,
    "manager": 0.30,
    "director": 0.17,
    "vp": 0.09,
    "c_level": 0.06,
}

# --- the true model ----------------------------------------------------------------------------

#: Weights of log1p(count) in the engagement index (time on site in minutes).
ENGAGEMENT_WEIGHTS: Final[Mapping[str, float]] = {
    "website_visits": 0.35,
    "pages_viewed": 0.08,
    "time_on_site_s": 0.05,
    "email_opens": 0.06,
    "email_clicks": 0.60,
    "content_downloads": 0.50,
    "events_attended": 0.60,
}
SECONDS_PER_MINUTE: Final = 60.0


@dataclass(frozen=True)
class StageEffects:
    """Logit weights of one funnel stage (accept, or close given accepted)."""

    intercept: float
    awareness: tuple[float, float, float]  # none, low, high
    engagement_max: float  # saturating: max * (1 - exp(-index / scale))
    engagement_scale: float
    seniority_x_size: float  # seniority (0-1) x size factor (0-1)
    size: float  # size factor (0-1)
    inbound: float  # small direct channel effect
    industry: Mapping[str, float]  # industries not listed: 0
    alignment_inbound: tuple[float, float, float]  # misaligned, aligned, sla


ACCEPT_EFFECTS: Final = StageEffects(
    intercept=-2.3,
    awareness=(0.0, 0.9, 1.7),
    engagement_max=2.6,
    engagement_scale=1.5,
    seniority_x_size=1.2,
    size=0.3,
    inbound=0.1,
    industry={"software": 0.2, "financial_services": 0.1, "education": -0.2},
    alignment_inbound=(-0.5, 0.0, 0.5),
)
CLOSE_EFFECTS: Final = StageEffects(
    intercept=-4.8,
    awareness=(0.0, 0.8, 1.6),
    engagement_max=2.5,
    engagement_scale=1.5,
    seniority_x_size=1.4,
    size=0.4,
    inbound=0.1,
    industry={"software": 0.25, "public_sector": -0.3},
    alignment_inbound=(0.0, 0.0, 0.0),
)

# --- drift (optional) --------------------------------------------------------------------------

#: Shift of logit p(close | accepted) on the oldest day and over the newest part of the
#: history; the close rate of the newest quarter of leads is about 4x the oldest's.
DRIFT_CLOSE_LOGIT: Final[tuple[float, float]] = (-1.5, 0.8)
#: Fraction of the history (oldest = 0, ``as_of`` = 1) where the ramp stops rising; it is
#: flat after it, over the part of the history a model is calibrated and tested on.
DRIFT_RAMP_END: Final = 0.7

# --- monitoring scenarios (optional) ------------------------------------------------------------

#: What ``scenario=`` changes from ``scenario_from`` on, for ``leadmodel monitor`` to find:
#: ``base_rate`` the close rate climbs (the fields keep their values and effects),
#: ``new_source`` a channel the model never saw brings a share of the leads,
#: ``tracking_break`` an engagement field stops being recorded (empty).
SCENARIOS: Final[tuple[str, ...]] = ("base_rate", "new_source", "tracking_break")
#: Without ``scenario_from``: the scenario starts this many days before ``as_of``.
SCENARIO_DEFAULT_DAYS: Final = 120
#: ``base_rate``: shift of logit p(close | accepted), reached after the ramp's days (about
#: twice the close rate at the synthetic base rates).
SCENARIO_BASE_RATE_LOGIT: Final = 1.2
SCENARIO_RAMP_DAYS: Final = 28
#: ``new_source``: the new channel and the share of leads it brings (their other fields and
#: outcomes are drawn as before: only the channel's name is new).
SCENARIO_NEW_SOURCE: Final = "tiktok_ads"
SCENARIO_NEW_SOURCE_SHARE: Final = 0.3
#: ``tracking_break``: the engagement field that goes missing, and the share of leads.
SCENARIO_BREAK_FIELD: Final = "website_visits"
SCENARIO_BREAK_SHARE: Final = 1.0
#: Third entropy word: the scenario's own random stream, so the other fields stay the same.
SCENARIO_STREAM: Final = 3

# --- campaigns (optional) ------------------------------------------------------------------------

#: Second entropy word of the campaign random stream, so the other fields stay the same.
CAMPAIGN_STREAM: Final = 2
CAMPAIGN_COLUMN: Final = "campaign"
CAMPAIGN_ID_PREFIX: Final = "cmp_"
#: Digits of the number in a campaign id (``cmp_0042``); more when there are more.
CAMPAIGN_ID_DIGITS: Final = 4
#: Campaign of relative size rank r (0 = biggest, 1 = smallest) has volume share
#: proportional to (r + offset) ** -exponent * exp(-cutoff * r): Zipf-like in the head,
#: a long tail of tiny campaigns (with 400 campaigns in 50,000 leads: about 900 leads in
#: the biggest, 35 in the median one, 3 in the smallest).
CAMPAIGN_ZIPF_EXPONENT: Final = 1.0
CAMPAIGN_RANK_OFFSET: Final = 0.2
CAMPAIGN_CUTOFF: Final = 4.0
#: Sd of each campaign's effect on the logit of each stage (drawn per stage, centred on
#: the volume-weighted mean so the overall rates hardly move).
CAMPAIGN_EFFECT_SD: Final = 0.6

# --- messy mode ------------------------------------------------------------------------------

#: Second entropy word of the messy random stream, so clean fields stay the same.
MESSY_STREAM: Final = 1
SOURCE_VARIANT_SHARE: Final = 0.3
MISSING_SHARE_RANGE: Final[tuple[float, float]] = (0.05, 0.15)
MISSING_COLUMNS: Final[tuple[str, ...]] = (
    schema.ENGAGEMENT_COLUMNS + schema.FIRMOGRAPHIC_NUMERIC + schema.FIRMOGRAPHIC_TEXT
)
DUPLICATE_ID_SHARE: Final = 0.001
#: Share of rows per kind of impossible value (at least one row each).
IMPOSSIBLE_SHARE: Final = 0.0005
NEGATIVE_COLUMN: Final = "website_visits"
MAX_NEGATIVE: Final = 9
#: Future ``created_at`` values lie this many days after ``as_of`` (a mistyped year), so a
#: check against ``as_of`` or against today's date catches them alike.
FUTURE_DAYS_RANGE: Final[tuple[int, int]] = (3_650, 4_015)
INVALID_AWARENESS: Final = "maybe"
#: Numeric columns written as text; in a share of rows with odd formatting.
TEXT_NUMBER_COLUMNS: Final[tuple[str, ...]] = ("company_size", "pages_viewed", "email_opens")
ODD_TEXT_SHARE: Final = 0.03
THOUSANDS_FROM: Final = 1000

#: Keys of :attr:`SyntheticExport.injected`, one per kind of rejected row.
DUPLICATE_LEAD_ID: Final = "duplicate_lead_id"
NEGATIVE_VALUE: Final = "negative_value"
FUTURE_CREATED_AT: Final = "future_created_at"
INVALID_PRIOR_AWARENESS: Final = "invalid_prior_awareness"
CLOSED_WITHOUT_ACCEPT: Final = "closed_without_accept"

#: Extra columns written after the canonical ones.
EXTRA_COLUMNS: Final[tuple[str, ...]] = ("sales_alignment", "business_unit")
TRUTH_COLUMNS: Final[tuple[str, ...]] = (schema.LEAD_ID, "p_accept", "p_close")
#: Decimals of the shares and rates in :func:`summarise`.
SUMMARY_DIGITS: Final = 4


@dataclass(frozen=True)
class SyntheticExport:
    """A synthetic CRM export and the true probabilities behind its labels.

    Attributes
    ----------
    export
        Canonical columns plus ``sales_alignment`` and ``business_unit`` (and
        ``campaign`` with ``campaigns=N``); no truth.
    truth
        ``lead_id``, ``p_accept``, ``p_close`` row-aligned with ``export`` (in messy mode
        the ids are the clean ones, before duplicates were injected).
    injected
        Rows injected per kind of impossible value (empty unless messy). All injected
        rows are distinct; each duplicated id appears exactly twice, and the count is
        the number of later rows repeating an id already seen.
    """

    export: pd.DataFrame
    truth: pd.DataFrame
    injected: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Leads:
    """The drawn leads as codes and arrays (internal)."""

    created_at: np.ndarray  # datetime64[D], sorted
    business_unit: np.ndarray  # codes into BUSINESS_UNITS
    alignment: np.ndarray  # codes into ALIGNMENT_LEVELS
    source: np.ndarray  # codes into _channel_names()
    inbound: np.ndarray  # bool
    awareness: np.ndarray  # codes into schema.AWARENESS_LEVELS (never missing)
    counts: dict[str, np.ndarray]  # engagement columns
    company_size: np.ndarray
    industry: np.ndarray  # codes into INDUSTRIES
    country: np.ndarray  # codes into COUNTRIES
    job_level: np.ndarray  # codes into JOB_LEVELS


def generate(
    rows: int,
    seed: int = 0,
    messy: bool = False,
    as_of: str = DEFAULT_AS_OF,
    drift: bool = False,
    campaigns: int = 0,
    scenario: str | None = None,
    scenario_from: str | None = None,
    world: int | None = None,
) -> SyntheticExport:
    """Generate a synthetic CRM export of ``rows`` leads created up to ``as_of``.

    Deterministic for a seed. With ``messy=True`` the export also has inconsistent
    source spellings, 5-15 % missing engagement and firmographic values, numbers stored
    as text, about 0.1 % reused lead ids and a few impossible rows (negative visits,
    ``created_at`` after ``as_of``, awareness ``"maybe"``, ``closed=1`` with
    ``accepted=0``), counted in :attr:`SyntheticExport.injected`. The row count is
    ``rows`` either way.

    ``drift=True`` lets the close rate climb over the older part of the history (see
    :data:`DRIFT_CLOSE_LOGIT`); ``campaigns=N`` adds a ``campaign`` column with N
    campaigns, each with its own effect on both stages (0 = off). Neither changes any
    other field, and with both off the export is the same as without them.

    ``scenario`` (one of :data:`SCENARIOS`) changes the leads created from
    ``scenario_from`` (a date; default :data:`SCENARIO_DEFAULT_DAYS` before ``as_of``) on,
    as production data drifts: the close rate climbs, a new source appears, or an
    engagement field's tracking breaks. Leads created before it are unchanged.

    ``world`` draws the business units' volume shares and alignment levels as the export
    of seed ``world`` has them (default: ``seed``'s own), so exports of several seeds can
    come from one company: the leads differ, the company's units do not.

    Raises
    ------
    ValueError
        If ``rows`` is not positive, ``campaigns`` is negative or ``as_of`` is not a date.
    """
    if rows <= 0:
        raise ValueError(
            _("rows: must be a positive number of leads, got {rows}").format(rows=rows)
        )
    if campaigns < 0:
        raise ValueError(
            _("campaigns: must be 0 (off) or a number of campaigns, got {campaigns}").format(
                campaigns=campaigns
            )
        )
    as_of_day = _parse_day(as_of)
    if scenario is not None and scenario not in SCENARIOS:
        raise ValueError(_one_of("scenario", SCENARIOS, scenario))
    start = (
        _parse_day(scenario_from, "scenario_from")
        if scenario_from
        else as_of_day - np.timedelta64(SCENARIO_DEFAULT_DAYS, "D")
    )
    rng = np.random.default_rng(seed)
    leads = _draw_leads(rng, rows, as_of_day, world)
    accept_logit = _stage_logit(leads, ACCEPT_EFFECTS)
    close_logit = _stage_logit(leads, CLOSE_EFFECTS)
    if drift:
        close_logit = close_logit + _drift_shift(leads.created_at, as_of_day)
    if campaigns:
        campaign_rng = np.random.default_rng([seed, CAMPAIGN_STREAM])
        campaign, accept_effect, close_effect = _draw_campaigns(campaign_rng, rows, campaigns)
        accept_logit = accept_logit + accept_effect[campaign]
        close_logit = close_logit + close_effect[campaign]
    if scenario == "base_rate":
        days = (leads.created_at - start).astype(np.int64)
        close_logit = close_logit + SCENARIO_BASE_RATE_LOGIT * np.clip(
            (days + 1) / SCENARIO_RAMP_DAYS, 0.0, 1.0
        )
    p_accept = expit(accept_logit)
    p_close_given_accept = expit(close_logit)
    export = _export_frame(rng, leads, p_accept, p_close_given_accept, as_of_day)
    if scenario in ("new_source", "tracking_break"):
        _apply_scenario(np.random.default_rng([seed, SCENARIO_STREAM]), export, scenario, start)
    if campaigns:
        export[CAMPAIGN_COLUMN] = _labels(_campaign_ids(campaigns), campaign)
    truth = pd.DataFrame(
        {
            schema.LEAD_ID: export[schema.LEAD_ID],
            "p_accept": p_accept,
            "p_close": p_accept * p_close_given_accept,
        }
    )
    if not messy:
        return SyntheticExport(export=export, truth=truth)
    messy_rng = np.random.default_rng([seed, MESSY_STREAM])
    export, injected = _make_messy(messy_rng, export, as_of_day)
    return SyntheticExport(export=export, truth=truth, injected=injected)


def _apply_scenario(
    rng: np.random.Generator, export: pd.DataFrame, scenario: str, start: np.datetime64
) -> None:
    """Rename the channel of, or blank a field of, a share of the leads from ``start`` on."""
    after = (export[schema.CREATED_AT].to_numpy() >= start.astype("datetime64[us]")).astype(bool)
    if scenario == "new_source":
        picked = after & (rng.random(len(export)) < SCENARIO_NEW_SOURCE_SHARE)
        export[schema.SOURCE] = export[schema.SOURCE].mask(picked, SCENARIO_NEW_SOURCE)
    else:
        picked = after & (rng.random(len(export)) < SCENARIO_BREAK_SHARE)
        export[SCENARIO_BREAK_FIELD] = export[SCENARIO_BREAK_FIELD].mask(picked)


def effect_strength(drift: bool = False, campaigns: int = 0) -> dict[str, str]:
    """:data:`EFFECT_STRENGTH` for an export generated with these scenario options."""
    strength = dict(EFFECT_STRENGTH)
    if drift:
        strength[schema.CREATED_AT] = DRIFT_EFFECT_STRENGTH
    if campaigns:
        strength[CAMPAIGN_COLUMN] = CAMPAIGN_EFFECT_STRENGTH
    return strength


def summarise(export: pd.DataFrame, top_sources: int = 5) -> dict[str, Any]:
    """The headline numbers of an export (clean or messy), for people and for ``--json``.

    Rates are over decided leads; ``open_share`` is the share of leads not yet closed or
    lost; awareness shares are over all leads (``missing`` = empty). The close rates of
    the oldest and newest quarter of leads (by ``created_at``) show drift; ``campaigns_seen``
    is the number of distinct campaigns, when the export has a ``campaign`` column.
    """
    accepted = pd.to_numeric(export[schema.ACCEPTED], errors="coerce")
    closed = pd.to_numeric(export[schema.CLOSED], errors="coerce")
    created = pd.to_datetime(export[schema.CREATED_AT], errors="coerce")
    quarter = pd.qcut(created.rank(method="first"), 4, labels=False)
    awareness = export[schema.PRIOR_AWARENESS].astype(object).fillna("missing")
    shares = awareness.value_counts(normalize=True)
    order = [v for v in (*schema.AWARENESS_LEVELS, "missing") if v in shares.index]
    order += sorted(v for v in shares.index if v not in order)
    sources = schema.normalise_sources(export[schema.SOURCE]).value_counts(normalize=True)
    return {
        "rows": len(export),
        "date_min": _iso_day(created.min()),
        "date_max": _iso_day(created.max()),
        "accept_rate": _rounded(accepted.mean()),
        "close_rate": _rounded(closed.mean()),
        "close_rate_oldest_quarter": _rounded(closed[quarter == 0].mean()),
        "close_rate_newest_quarter": _rounded(closed[quarter == 3].mean()),
        "open_share": _rounded(closed.isna().mean()),
        "awareness_share": {k: _rounded(shares[k]) for k in order},
        "top_sources": {str(k): _rounded(v) for k, v in sources.head(top_sources).items()},
    } | ({"campaigns_seen": export[CAMPAIGN_COLUMN].nunique()} if CAMPAIGN_COLUMN in export else {})


# --- drawing the leads ---------------------------------------------------------------------


def _draw_leads(
    rng: np.random.Generator, rows: int, as_of: np.datetime64, world: int | None = None
) -> _Leads:
    """Draw every lead attribute (vectorised); ``world`` seeds the business units apart."""
    units = rng if world is None else np.random.default_rng(world)  # seed `world`'s draws
    bu_share = units.dirichlet(np.full(len(BUSINESS_UNITS), BUSINESS_UNIT_CONCENTRATION))
    # every alignment level gets the same number of units, shuffled per seed
    bu_alignment = units.permutation(np.arange(len(BUSINESS_UNITS)) % len(ALIGNMENT_LEVELS))
    business_unit = rng.choice(len(BUSINESS_UNITS), size=rows, p=bu_share)

    inbound = rng.random(rows) < INBOUND_SHARE
    n_inbound = len(INBOUND_CHANNELS)
    source = np.where(
        inbound,
        rng.choice(n_inbound, size=rows, p=_probs(INBOUND_CHANNELS)),
        n_inbound + rng.choice(len(OUTBOUND_CHANNELS), size=rows, p=_probs(OUTBOUND_CHANNELS)),
    )
    awareness = np.where(
        inbound,
        rng.choice(len(AWARENESS_INBOUND), size=rows, p=AWARENESS_INBOUND),
        rng.choice(len(AWARENESS_OUTBOUND), size=rows, p=AWARENESS_OUTBOUND),
    )
    interest = (
        rng.standard_normal(rows)
        + np.asarray(INTEREST_BY_AWARENESS)[awareness]
        + INTEREST_INBOUND * inbound
    )
    counts = _draw_engagement(rng, interest, _channel_names()[source])

    size = rng.lognormal(np.log(COMPANY_SIZE_MEDIAN), COMPANY_SIZE_SIGMA, size=rows)
    return _Leads(
        created_at=_draw_days(rng, rows, as_of),
        business_unit=business_unit,
        alignment=bu_alignment[business_unit],
        source=source,
        inbound=inbound,
        awareness=awareness,
        counts=counts,
        company_size=np.clip(np.rint(size), 1, COMPANY_SIZE_MAX).astype(np.int64),
        industry=rng.choice(len(INDUSTRIES), size=rows, p=_probs(INDUSTRIES)),
        country=rng.choice(len(COUNTRIES), size=rows, p=_probs(COUNTRIES)),
        job_level=rng.choice(len(JOB_LEVELS), size=rows, p=_probs(JOB_LEVELS)),
    )


def _draw_engagement(
    rng: np.random.Generator, interest: np.ndarray, channel: np.ndarray
) -> dict[str, np.ndarray]:
    """Engagement counts before hand-over, all driven by the latent interest."""
    visits = _neg_binomial(rng, _log_linear(VISITS_LOG_MEAN, interest))
    pages = visits + _neg_binomial(rng, EXTRA_PAGES_PER_VISIT * visits)
    per_page = rng.lognormal(np.log(SECONDS_PER_PAGE_MEDIAN), SECONDS_PER_PAGE_SIGMA, len(pages))
    opens = _neg_binomial(rng, _log_linear(OPENS_LOG_MEAN, interest))
    clicks = rng.binomial(opens, expit(CLICK_LOGIT[0] + CLICK_LOGIT[1] * interest))
    downloads = _neg_binomial(rng, _log_linear(DOWNLOADS_LOG_MEAN, interest))
    events = rng.poisson(_log_linear(EVENTS_LOG_MEAN, interest))
    return {
        "website_visits": visits,
        "pages_viewed": pages,
        "time_on_site_s": np.rint(pages * per_page).astype(np.int64),
        "email_opens": opens,
        "email_clicks": clicks,
        "content_downloads": downloads + np.isin(channel, list(DOWNLOAD_CHANNELS)),
        "events_attended": events + np.isin(channel, list(EVENT_CHANNELS)),
    }


def _draw_days(rng: np.random.Generator, rows: int, as_of: np.datetime64) -> np.ndarray:
    """Creation days over the history: growing volume, quieter weekends; sorted."""
    days = as_of - np.arange(HISTORY_DAYS - 1, -1, -1).astype("timedelta64[D]")
    weight = 1.0 + VOLUME_GROWTH * np.linspace(0.0, 1.0, HISTORY_DAYS)
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weight = np.where(weekday >= 5, WEEKEND_VOLUME * weight, weight)
    return np.sort(days[rng.choice(HISTORY_DAYS, size=rows, p=weight / weight.sum())])


def _neg_binomial(rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
    """Overdispersed counts with the given means (gamma-Poisson mixture)."""
    rate = mean * rng.gamma(COUNT_DISPERSION, 1.0 / COUNT_DISPERSION, size=len(mean))
    return rng.poisson(rate)


def _log_linear(coefs: tuple[float, float], x: np.ndarray) -> np.ndarray:
    return np.exp(coefs[0] + coefs[1] * x)


# --- the true model ----------------------------------------------------------------------------


def _stage_logit(leads: _Leads, eff: StageEffects) -> np.ndarray:
    """The true logit of one stage, from observed fields only."""
    index = sum(
        weight * np.log1p(_engagement_value(leads, col))
        for col, weight in ENGAGEMENT_WEIGHTS.items()
    )
    engagement = eff.engagement_max * (1.0 - np.exp(-index / eff.engagement_scale))
    low, high = SIZE_LOG10_RANGE
    size = np.clip((np.log10(leads.company_size) - low) / (high - low), 0.0, 1.0)
    seniority = leads.job_level / (len(JOB_LEVELS) - 1)
    industry = np.array([eff.industry.get(name, 0.0) for name in INDUSTRIES])[leads.industry]
    alignment = np.asarray(eff.alignment_inbound)[leads.alignment] * leads.inbound
    return (
        eff.intercept
        + np.asarray(eff.awareness)[leads.awareness]
        + engagement
        + eff.seniority_x_size * seniority * size
        + eff.size * size
        + industry
        + eff.inbound * leads.inbound
        + alignment
    )


def _engagement_value(leads: _Leads, column: str) -> np.ndarray:
    value = leads.counts[column]
    return value / SECONDS_PER_MINUTE if column == "time_on_site_s" else value


def _drift_shift(created_at: np.ndarray, as_of: np.datetime64) -> np.ndarray:
    """Close-stage intercept shift: a half-cosine ramp up to DRIFT_RAMP_END, then flat."""
    age = (as_of - created_at).astype(np.int64)
    position = 1.0 - age / (HISTORY_DAYS - 1)  # oldest day 0, as_of 1
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.clip(position / DRIFT_RAMP_END, 0.0, 1.0))
    start, end = DRIFT_CLOSE_LOGIT
    return start + (end - start) * ramp


def _draw_campaigns(
    rng: np.random.Generator, rows: int, campaigns: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each lead's campaign code, and each campaign's accept and close logit effect."""
    rank = (np.arange(campaigns) + 0.5) / campaigns
    share = (rank + CAMPAIGN_RANK_OFFSET) ** -CAMPAIGN_ZIPF_EXPONENT * np.exp(
        -CAMPAIGN_CUTOFF * rank
    )
    share = rng.permutation(share / share.sum())  # which id is big differs per seed
    effects = rng.normal(0.0, CAMPAIGN_EFFECT_SD, size=(2, campaigns))
    effects -= effects @ share[:, None]
    return rng.choice(campaigns, size=rows, p=share), effects[0], effects[1]


def _campaign_ids(campaigns: int) -> np.ndarray:
    digits = max(CAMPAIGN_ID_DIGITS, len(str(campaigns)))
    return np.char.add(
        CAMPAIGN_ID_PREFIX, np.char.zfill(np.arange(1, campaigns + 1).astype(str), digits)
    )


# --- the export frame --------------------------------------------------------------------------


def _export_frame(
    rng: np.random.Generator,
    leads: _Leads,
    p_accept: np.ndarray,
    p_close_given_accept: np.ndarray,
    as_of: np.datetime64,
) -> pd.DataFrame:
    """Draw the labels, hide undecided ones, and lay out the canonical table."""
    rows = len(p_accept)
    accepted = rng.random(rows) < p_accept
    closed = accepted & (rng.random(rows) < p_close_given_accept)
    age = (as_of - leads.created_at).astype(np.int64)
    pending = rng.random(rows) < np.clip(1.0 - age / ACCEPT_PENDING_DAYS, 0.0, 1.0)
    p_open = np.clip(1.0 - age / OPEN_WINDOW_DAYS, 0.0, 1.0) ** OPEN_CURVE
    still_open = pending | (accepted & (rng.random(rows) < p_open))
    awareness_missing = rng.random(rows) < AWARENESS_MISSING_SHARE

    awareness = _labels(schema.AWARENESS_LEVELS, leads.awareness)
    digits = max(LEAD_ID_DIGITS, len(str(rows)))
    frame: dict[str, Any] = {
        schema.LEAD_ID: LEAD_ID_PREFIX
        + pd.Series(np.arange(1, rows + 1)).astype(str).str.zfill(digits),
        schema.CREATED_AT: pd.Series(leads.created_at.astype("datetime64[us]")),
        schema.SOURCE: _labels(_channel_names(), leads.source),
        schema.PRIOR_AWARENESS: awareness.mask(awareness_missing),
    }
    frame.update({col: _ints(leads.counts[col]) for col in schema.ENGAGEMENT_COLUMNS})
    frame.update(
        {
            "company_size": _ints(leads.company_size),
            "industry": _labels(tuple(INDUSTRIES), leads.industry),
            "country": _labels(tuple(COUNTRIES), leads.country),
            "job_level": _labels(tuple(JOB_LEVELS), leads.job_level),
            schema.ACCEPTED: pd.arrays.IntegerArray(accepted.astype(np.int64), pending),
            schema.CLOSED: pd.arrays.IntegerArray(closed.astype(np.int64), still_open),
            "sales_alignment": _labels(ALIGNMENT_LEVELS, leads.alignment),
            "business_unit": _labels(BUSINESS_UNITS, leads.business_unit),
        }
    )
    return pd.DataFrame(frame, columns=[*schema.CANONICAL_COLUMNS, *EXTRA_COLUMNS])


# --- messy mode ------------------------------------------------------------------------------


def _make_messy(
    rng: np.random.Generator, export: pd.DataFrame, as_of: np.datetime64
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Add what real exports contain; return the frame and the injected row counts."""
    df = export.copy()
    rows = len(df)
    df[schema.SOURCE] = _misspell_sources(rng, df[schema.SOURCE])
    for col in MISSING_COLUMNS:
        share = rng.uniform(*MISSING_SHARE_RANGE)
        df[col] = df[col].mask(rng.random(rows) < share)

    # every injected row is a different row, so reject counts can be checked exactly
    order = rng.permutation(rows)
    wanted = {
        DUPLICATE_LEAD_ID: max(1, round(rows * DUPLICATE_ID_SHARE)),
        NEGATIVE_VALUE: max(1, round(rows * IMPOSSIBLE_SHARE)),
        FUTURE_CREATED_AT: max(1, round(rows * IMPOSSIBLE_SHARE)),
        INVALID_PRIOR_AWARENESS: max(1, round(rows * IMPOSSIBLE_SHARE)),
        CLOSED_WITHOUT_ACCEPT: max(1, round(rows * IMPOSSIBLE_SHARE)),
    }
    n_dup = min(wanted[DUPLICATE_LEAD_ID], rows // 2)
    pairs = np.sort(order[: 2 * n_dup].reshape(2, n_dup), axis=0)  # first row, later copy
    ids = df[schema.LEAD_ID].to_numpy(copy=True)
    ids[pairs[1]] = ids[pairs[0]]
    df[schema.LEAD_ID] = pd.Series(ids, dtype="str")
    injected = {DUPLICATE_LEAD_ID: n_dup}
    start = 2 * n_dup
    for kind in (NEGATIVE_VALUE, FUTURE_CREATED_AT, INVALID_PRIOR_AWARENESS, CLOSED_WITHOUT_ACCEPT):
        picked = order[start : start + wanted[kind]]
        start += len(picked)
        injected[kind] = len(picked)
        _inject(rng, df, kind, picked, as_of)

    for col in TEXT_NUMBER_COLUMNS:
        df[col] = _numbers_as_text(rng, df[col])
    return df, injected


def _inject(
    rng: np.random.Generator, df: pd.DataFrame, kind: str, rows: np.ndarray, as_of: np.datetime64
) -> None:
    """Write one kind of impossible value into ``rows`` (positions) of ``df``."""
    if kind == NEGATIVE_VALUE:
        col = df.columns.get_loc(NEGATIVE_COLUMN)
        df.iloc[rows, col] = -rng.integers(1, MAX_NEGATIVE + 1, size=len(rows))
    elif kind == FUTURE_CREATED_AT:
        ahead = rng.integers(*FUTURE_DAYS_RANGE, size=len(rows)).astype("timedelta64[D]")
        df.iloc[rows, df.columns.get_loc(schema.CREATED_AT)] = (as_of + ahead).astype(
            "datetime64[us]"
        )
    elif kind == INVALID_PRIOR_AWARENESS:
        df.iloc[rows, df.columns.get_loc(schema.PRIOR_AWARENESS)] = INVALID_AWARENESS
    elif kind == CLOSED_WITHOUT_ACCEPT:
        df.iloc[rows, df.columns.get_loc(schema.ACCEPTED)] = 0
        df.iloc[rows, df.columns.get_loc(schema.CLOSED)] = 1


def _misspell_sources(rng: np.random.Generator, source: pd.Series) -> pd.Series:
    """Spell a share of sources as ``Organic Search``, ``organic-search``, `` ORGANIC_SEARCH ``."""
    names = _channel_names()
    variants = np.stack(
        [
            names,
            np.char.title(np.char.replace(names, "_", " ")),
            np.char.replace(names, "_", "-"),
            np.char.add(np.char.add(" ", np.char.upper(names)), " "),
        ]
    ).astype(object)
    code = pd.Categorical(source, categories=names).codes
    variant = np.where(
        rng.random(len(source)) < SOURCE_VARIANT_SHARE,
        rng.integers(1, variants.shape[0], size=len(source)),
        0,
    )
    return pd.Series(variants[variant, code], index=source.index, dtype="str")


def _numbers_as_text(rng: np.random.Generator, values: pd.Series) -> pd.Series:
    """Store whole numbers as text; some as ``"1,200"`` or with spaces around them."""
    text = values.astype("str")
    odd = (rng.random(len(values)) < ODD_TEXT_SHARE) & values.notna().to_numpy()
    big = odd & (values >= THOUSANDS_FROM).fillna(False).to_numpy()
    text[big] = values[big].astype(np.int64).map("{:,}".format)
    padded = odd & ~big
    text[padded] = " " + text[padded] + " "
    return text


# --- small helpers ---------------------------------------------------------------------------


def _channel_names() -> np.ndarray:
    """Inbound then outbound channel names; source codes index into this."""
    return np.array([*INBOUND_CHANNELS, *OUTBOUND_CHANNELS])


def _probs(weights: Mapping[str, float]) -> np.ndarray:
    values = np.fromiter(weights.values(), dtype=np.float64)
    return values / values.sum()


def _labels(names: tuple[str, ...] | np.ndarray, codes: np.ndarray) -> pd.Series:
    """Text column from integer codes (pandas ``str`` dtype)."""
    return pd.Series(pd.Categorical.from_codes(codes, categories=list(names))).astype("str")


def _ints(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Nullable whole numbers, so missing values stay empty in CSV instead of ``7.0``."""
    return pd.arrays.IntegerArray(values.astype(np.int64), np.zeros(len(values), dtype=bool))


def _one_of(name: str, allowed: Any, got: Any) -> str:
    return _("{option}: must be one of {allowed}, got {got}").format(
        option=name, allowed=", ".join(allowed), got=repr(got)
    )


def _parse_day(value: str, name: str = "as_of") -> np.datetime64:
    try:
        day = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            _("{name}: not a date: {value}").format(name=name, value=repr(value))
        ) from exc
    if pd.isna(day):
        raise ValueError(_("{name}: not a date: {value}").format(name=name, value=repr(value)))
    return np.datetime64(day.date(), "D")


def _iso_day(value: object) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).date().isoformat()


def _rounded(value: float) -> float | None:
    return None if pd.isna(value) else round(float(value), SUMMARY_DIGITS)


# --- the export in a CRM's own shape (leadmodel synth --format) ---------------------------
#
# The canonical export renamed and respelled as HubSpot, Salesforce or Dynamics 365 write
# it, with the columns the presets (src/leadmodel/mappings/) read, and the ones they drop
# because they are recorded after hand-over, filled plausibly from the outcome (so that a
# model that read them would look far better than it is). The labels are spread over the
# columns the presets' label rules read; read back with the preset they are the same.

CANONICAL_FORMAT: Final = "canonical"
CRM_FORMATS: Final[tuple[str, ...]] = ("hubspot", "salesforce", "dynamics")
#: Third entropy word: the CRM columns' own random stream (the leads stay the same).
CRM_STREAM: Final = 3
#: Days from creation to the accept decision, and from acceptance to the close decision.
HANDOVER_DAYS: Final[tuple[int, int]] = (1, 14)
CLOSE_DAYS: Final[tuple[int, int]] = (20, 90)
#: Mean activity added to a live counter after hand-over: accepted (lost or open) and won
#: leads. A won customer keeps visiting, reading mails and filling in forms.
GROWTH_AFTER_HANDOVER: Final[tuple[float, float]] = (2.0, 8.0)
#: P(rating Hot, Warm, Cold) a rep gives after contact: won, accepted not won, the rest.
RATING_SHARES: Final[tuple[tuple[float, float, float], ...]] = (
    (0.7, 0.25, 0.05),
    (0.3, 0.5, 0.2),
    (0.05, 0.25, 0.7),
)
COUNTRY_NAMES: Final[Mapping[str, str]] = {
    "US": "United States",
    "GB": "United Kingdom",
    "DE": "Germany",
    "FR": "France",
    "CA": "Canada",
    "NL": "Netherlands",
    "AU": "Australia",
    "IN": "India",
    "BR": "Brazil",
    "JP": "Japan",
    "ES": "Spain",
    "SE": "Sweden",
}
JOB_TITLES: Final[Mapping[str, str]] = {
    "individual_contributor": "Specialist",
    "manager": "Manager",
    "director": "Director",
    "vp": "Vice President",
    "c_level": "Chief Executive Officer",
}
#: Each canonical channel as each system records it (its categories are coarser).
CRM_SOURCES: Final[Mapping[str, Mapping[str, str]]] = {
    "hubspot": {
        "organic_search": "ORGANIC_SEARCH",
        "paid_search": "PAID_SEARCH",
        "social": "SOCIAL_MEDIA",
        "email": "EMAIL_MARKETING",
        "content": "OTHER_CAMPAIGNS",
        "webinar": "OTHER_CAMPAIGNS",
        "events": "OFFLINE",
        "referral": "REFERRALS",
        "cold_email": "OFFLINE",
        "cold_call": "OFFLINE",
        "list_import": "OFFLINE",
    },
    "salesforce": {
        "organic_search": "Web",
        "paid_search": "Advertisement",
        "social": "Advertisement",
        "email": "Web",
        "content": "Web",
        "webinar": "Seminar - Internal",
        "events": "Trade Show",
        "referral": "Partner Referral",
        "cold_email": "Purchased List",
        "cold_call": "Other",
        "list_import": "Purchased List",
    },
    "dynamics": {  # leadsourcecode option-set codes
        "organic_search": "8",
        "paid_search": "1",
        "social": "1",
        "email": "8",
        "content": "8",
        "webinar": "6",
        "events": "7",
        "referral": "3",
        "cold_email": "10",
        "cold_call": "10",
        "list_import": "10",
    },
}
#: Industries as each system spells them (Dynamics: codes of its industrycode choice).
CRM_INDUSTRIES: Final[Mapping[str, Mapping[str, str]]] = {
    "hubspot": {name: name.replace("_", " ").title() for name in INDUSTRIES},
    "salesforce": {
        "software": "Technology",
        "financial_services": "Finance",
        "manufacturing": "Manufacturing",
        "healthcare": "Healthcare",
        "retail": "Retail",
        "professional_services": "Consulting",
        "education": "Education",
        "public_sector": "Government",
        "media": "Media",
        "logistics": "Transportation",
    },
    "dynamics": {name: str(code) for code, name in enumerate(INDUSTRIES, start=1)},
}
#: HubSpot's numemployees dropdown: upper bounds of its ranges and their labels.
HUBSPOT_EMPLOYEE_RANGES: Final[tuple[tuple[float, str], ...]] = (
    (5, "1-5"),
    (25, "5-25"),
    (50, "25-50"),
    (100, "50-100"),
    (500, "100-500"),
    (1000, "500-1000"),
    (np.inf, "1000+"),
)
#: Extra columns as custom fields of each system.
CRM_EXTRA_PREFIX: Final[Mapping[str, str]] = {"hubspot": "", "salesforce": "", "dynamics": "new_"}


def crm_export(export: pd.DataFrame, system: str, seed: int = 0) -> pd.DataFrame:
    """The clean canonical ``export`` as ``system`` (hubspot/salesforce/dynamics) writes it.

    Columns and value spellings are the ones the shipped preset of that name reads; the
    post-hand-over columns it drops are filled from the outcome. Deterministic for a seed.

    Raises
    ------
    ValueError
        If ``system`` is not one of :data:`CRM_FORMATS`.
    """
    if system not in CRM_FORMATS:
        raise ValueError(_one_of("format", CRM_FORMATS, system))
    rng = np.random.default_rng([seed, CRM_STREAM])
    leads = _crm_leads(rng, export)
    build = {"hubspot": _hubspot, "salesforce": _salesforce, "dynamics": _dynamics}[system]
    frame = build(rng, export, leads)
    for col in (c for c in export.columns if c not in schema.CANONICAL_COLUMNS):
        frame[_custom_name(system, col)] = export[col].to_numpy()
    return pd.DataFrame(frame)


@dataclass(frozen=True)
class _CrmLeads:
    """Outcome masks and decision days of the leads (internal)."""

    number: np.ndarray  # 1, 2, 3 ... in export order
    pending: np.ndarray  # accept not decided
    accepted: np.ndarray
    rejected: np.ndarray
    won: np.ndarray
    lost: np.ndarray  # accepted, then lost
    open_deal: np.ndarray  # accepted, close not decided
    handover: pd.Series  # day of the accept decision (NaT when pending)
    closing: pd.Series  # day of the close decision (NaT unless won or lost)


def _crm_leads(rng: np.random.Generator, export: pd.DataFrame) -> _CrmLeads:
    accepted = export[schema.ACCEPTED].astype("Int64")
    closed = export[schema.CLOSED].astype("Int64")
    pending = accepted.isna().to_numpy()
    acc = (accepted == 1).fillna(False).to_numpy()
    won = (closed == 1).fillna(False).to_numpy()
    lost = acc & (closed == 0).fillna(False).to_numpy()
    created = pd.to_datetime(export[schema.CREATED_AT])
    last_day = created.max()
    days = rng.integers(HANDOVER_DAYS[0], HANDOVER_DAYS[1] + 1, len(export))
    handover = (created + pd.to_timedelta(days, unit="D")).clip(upper=last_day)
    days = rng.integers(CLOSE_DAYS[0], CLOSE_DAYS[1] + 1, len(export))
    closing = (handover + pd.to_timedelta(days, unit="D")).clip(upper=last_day)
    return _CrmLeads(
        number=np.arange(1, len(export) + 1),
        pending=pending,
        accepted=acc,
        rejected=~pending & ~acc,
        won=won,
        lost=lost,
        open_deal=acc & ~won & ~lost,
        handover=handover.where(~pending),
        closing=closing.where(won | lost),
    )


def _custom_name(system: str, column: str) -> str:
    if system == "salesforce":
        return "_".join(part.title() for part in column.split("_")) + "__c"
    return CRM_EXTRA_PREFIX[system] + column.replace("_", "" if system == "dynamics" else "_")


def _spelled(values: pd.Series, spelling: Mapping[str, str]) -> np.ndarray:
    return values.map(spelling).astype(object).where(values.notna(), "").to_numpy()


def _days(values: pd.Series, fmt: str) -> np.ndarray:
    return values.dt.strftime(fmt).astype(object).where(values.notna(), "").to_numpy()


def _grown(rng: np.random.Generator, counts: pd.Series, leads: _CrmLeads) -> pd.Series:
    """A live counter: the value at hand-over plus what came after it."""
    mean = np.where(leads.won, GROWTH_AFTER_HANDOVER[1], 0.0)
    mean = np.where(leads.accepted & ~leads.won, GROWTH_AFTER_HANDOVER[0], mean)
    return counts + rng.poisson(mean)


def _choice(rng: np.random.Generator, options: list[str], rows: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), rows)]


def _ratings(rng: np.random.Generator, leads: _CrmLeads, labels: tuple[str, ...]) -> np.ndarray:
    """The rep's rating after contact (empty for leads nobody has looked at yet)."""
    group = np.where(leads.won, 0, np.where(leads.accepted, 1, 2))
    draw = rng.random(len(group))
    cumulative = np.cumsum(np.asarray(RATING_SHARES), axis=1)[group]
    rating = np.asarray(labels, dtype=object)[(draw[:, None] > cumulative).sum(axis=1).clip(0, 2)]
    rating[leads.pending] = ""
    return rating


def _hubspot(rng: np.random.Generator, export: pd.DataFrame, leads: _CrmLeads) -> dict[str, Any]:
    rows = len(export)
    created = pd.to_datetime(export[schema.CREATED_AT])
    size = export["company_size"].astype(float)
    bounds = np.array([b for b, _ in HUBSPOT_EMPLOYEE_RANGES])
    ranges = np.array([label for _, label in HUBSPOT_EMPLOYEE_RANGES], dtype=object)
    employees = ranges[
        np.searchsorted(bounds, size.fillna(1).to_numpy(), side="right").clip(max=len(bounds) - 1)
    ]
    employees[size.isna().to_numpy()] = ""
    status = np.full(rows, "", dtype=object)
    status[leads.pending] = _choice(rng, ["NEW", "OPEN", "ATTEMPTED_TO_CONTACT"], rows)[
        leads.pending
    ]
    status[leads.rejected] = _choice(rng, ["UNQUALIFIED", "BAD_TIMING"], rows)[leads.rejected]
    status[leads.open_deal] = "OPEN_DEAL"
    status[leads.lost] = _choice(rng, ["UNQUALIFIED", "BAD_TIMING"], rows)[leads.lost]
    status[leads.won] = "CONNECTED"  # a customer: the lifecycle stage date decides
    stage = np.where(leads.pending, "lead", "other").astype(object)
    stage[leads.accepted] = "salesqualifiedlead"
    stage[leads.open_deal] = "opportunity"
    stage[leads.won] = "customer"
    mql = (created + pd.to_timedelta(rng.integers(0, 2, rows), unit="D")).where(~leads.pending)
    counters = {
        "website_visits": "hs_analytics_num_visits",
        "pages_viewed": "hs_analytics_num_page_views",
        "content_downloads": "num_conversion_events",
        "email_opens": "hs_email_open",
        "email_clicks": "hs_email_click",
    }
    copies = {
        "website_visits": "leadmodel_visits",
        "pages_viewed": "leadmodel_page_views",
        "content_downloads": "leadmodel_form_submissions",
        "email_opens": "leadmodel_email_opens",
        "email_clicks": "leadmodel_email_clicks",
    }
    frame: dict[str, Any] = {
        "hs_object_id": (leads.number + 50_000_000).astype(str),
        "createdate": _days(created, "%Y-%m-%d %H:%M"),
        "hs_analytics_source": _spelled(export[schema.SOURCE], CRM_SOURCES["hubspot"]),
        "leadmodel_prior_awareness": export[schema.PRIOR_AWARENESS].to_numpy(),
    }
    frame |= {copies[c]: export[c].to_numpy() for c in copies}
    frame |= {counters[c]: _grown(rng, export[c], leads).to_numpy() for c in counters}
    frame |= {
        "numemployees": employees,
        "industry": _spelled(export["industry"], CRM_INDUSTRIES["hubspot"]),
        "country": _spelled(export["country"], COUNTRY_NAMES),
        "jobtitle": _spelled(export["job_level"], JOB_TITLES),
        "lifecyclestage": stage,
        "hs_lead_status": status,
        "hs_lifecyclestage_marketingqualifiedlead_date": _days(mql, "%Y-%m-%d %H:%M"),
        "hs_lifecyclestage_salesqualifiedlead_date": _days(
            leads.handover.where(leads.accepted), "%Y-%m-%d %H:%M"
        ),
        "hs_lifecyclestage_customer_date": _days(leads.closing.where(leads.won), "%Y-%m-%d %H:%M"),
        "num_contacted_notes": np.where(
            leads.pending, 0, rng.poisson(np.where(leads.accepted, 6.0, 1.5))
        ),
    }
    return frame


def _salesforce(rng: np.random.Generator, export: pd.DataFrame, leads: _CrmLeads) -> dict[str, Any]:
    rows = len(export)
    created = pd.to_datetime(export[schema.CREATED_AT])
    status = np.full(rows, "Closed - Not Converted", dtype=object)
    status[leads.pending] = _choice(rng, ["Open - Not Contacted", "Working - Contacted"], rows)[
        leads.pending
    ]
    status[leads.accepted] = "Closed - Converted"
    stage = np.full(rows, "", dtype=object)
    stage[leads.open_deal] = _choice(rng, ["Prospecting", "Negotiation/Review"], rows)[
        leads.open_deal
    ]
    stage[leads.won] = "Closed Won"
    stage[leads.lost] = "Closed Lost"
    opportunity = np.char.add("0065g", np.char.zfill(leads.number.astype(str), 13)).astype(object)
    opportunity[~leads.accepted] = ""
    return {
        "Id": np.char.add("00Q5g", np.char.zfill(leads.number.astype(str), 13)),
        "CreatedDate": _days(created, "%Y-%m-%dT%H:%M:%S.000+0000"),
        "LeadSource": _spelled(export[schema.SOURCE], CRM_SOURCES["salesforce"]),
        "Prior_Awareness__c": export[schema.PRIOR_AWARENESS].to_numpy(),
        "NumberOfEmployees": export["company_size"].to_numpy(),
        "Industry": _spelled(export["industry"], CRM_INDUSTRIES["salesforce"]),
        "Country": _spelled(export["country"], COUNTRY_NAMES),
        "Title": _spelled(export["job_level"], JOB_TITLES),
        "Status": status,
        "IsConverted": np.where(leads.accepted, "true", "false"),
        "ConvertedDate": _days(leads.handover.where(leads.accepted), "%Y-%m-%d"),
        "ConvertedOpportunityId": opportunity,
        "ConvertedOpportunity.StageName": stage,
        "Rating": _ratings(rng, leads, ("Hot", "Warm", "Cold")),
        "LastActivityDate": _days(leads.closing.fillna(leads.handover), "%Y-%m-%d"),
    }


def _dynamics(rng: np.random.Generator, export: pd.DataFrame, leads: _CrmLeads) -> dict[str, Any]:
    import uuid

    rows = len(export)
    created = pd.to_datetime(export[schema.CREATED_AT])

    def guids() -> np.ndarray:
        raw = rng.integers(0, 256, size=(rows, 16), dtype=np.uint8)
        return np.array([str(uuid.UUID(bytes=bytes(r), version=4)) for r in raw], dtype=object)

    state = np.where(leads.pending, "0", np.where(leads.accepted, "1", "2")).astype(object)
    reason = _choice(rng, ["4", "5", "6", "7"], rows)  # Lost, Cannot Contact, ...
    reason[leads.pending] = _choice(rng, ["1", "2"], rows)[leads.pending]  # New, Contacted
    reason[leads.accepted] = "3"  # Qualified
    opportunity = guids()
    opportunity[~leads.accepted] = ""
    opportunity_state = np.full(rows, "", dtype=object)
    opportunity_state[leads.open_deal] = "0"
    opportunity_state[leads.won] = "1"
    opportunity_state[leads.lost] = "2"
    budget = np.where(leads.accepted, np.round(rng.lognormal(10, 1, rows), -2), np.nan)
    return {
        "leadid": guids(),
        "createdon": _days(created, "%Y-%m-%dT%H:%M:%SZ"),
        "leadsourcecode": _spelled(export[schema.SOURCE], CRM_SOURCES["dynamics"]),
        "new_priorawareness": export[schema.PRIOR_AWARENESS].to_numpy(),
        "numberofemployees": export["company_size"].to_numpy(),
        "industrycode": _spelled(export["industry"], CRM_INDUSTRIES["dynamics"]),
        "address1_country": _spelled(export["country"], COUNTRY_NAMES),
        "jobtitle": _spelled(export["job_level"], JOB_TITLES),
        "statecode": state,
        "statuscode": reason,
        "qualifyingopportunityid": opportunity,
        "qualifyingopportunityid.statecode": opportunity_state,
        "leadqualitycode": _ratings(rng, leads, ("1", "2", "3")),  # Hot, Warm, Cold
        "budgetamount": budget,
    }
