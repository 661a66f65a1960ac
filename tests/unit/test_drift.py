"""The monitor's statistics: PSI, numeric bins, the rank AUC and its bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from leadmodel import drift
from leadmodel.config import MonitorConfig
from leadmodel.evaluate import bootstrap_auc_intervals
from leadmodel.monitor import auc, bootstrap_auc


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    base = [0.25, 0.25, 0.25, 0.25]
    assert drift.psi(base, base, 1e-4) == 0.0
    small = drift.psi(base, [0.3, 0.2, 0.25, 0.25], 1e-4)
    big = drift.psi(base, [0.7, 0.1, 0.1, 0.1], 1e-4)
    assert 0 < small < 0.1 < 0.25 < big
    # hand-computed: (0.3-0.25) ln(0.3/0.25) + (0.2-0.25) ln(0.2/0.25)
    assert small == pytest.approx(0.05 * np.log(1.2) - 0.05 * np.log(0.8))


def test_numeric_bins_match_the_cuts_and_keep_missing_apart() -> None:
    values = np.array([0, 0, 0, 1, 2, 3, 5, 8, np.nan, 13], dtype=float)
    cuts = drift.numeric_cuts(values, 4)
    bins = drift.numeric_bins(values, cuts)
    assert bins[8] == -1
    assert np.all(np.diff(bins[:8]) >= 0)  # sorted values, sorted bins
    for value, b in zip(values[~np.isnan(values)], bins[bins >= 0], strict=True):
        assert (b == 0 or value >= cuts[b - 1]) and (b == len(cuts) or value < cuts[b])


def test_rank_auc_and_its_count_bootstrap_match_the_resampling_one() -> None:
    rng = np.random.default_rng(0)
    p = np.round(rng.random(1000), 2)  # many ties
    y = (rng.random(1000) < 0.4 * p).astype(float)
    assert auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    low, high = bootstrap_auc(y, p, MonitorConfig(bootstrap=150), seed=1)
    ref = bootstrap_auc_intervals(y, p, None, 150, 0.95, 1)
    assert low < auc(y, p) < high
    assert low == pytest.approx(ref["auc_low"], abs=0.015)
    assert high == pytest.approx(ref["auc_high"], abs=0.015)
