"""Plain records read as numpy columns: the same types, codes and times pandas gives.

:class:`RecordColumns` reads a request's records without pandas objects; every reading
here is checked against what pandas makes of the same values (a ``pd.Series`` of them, as
``pd.DataFrame.from_records`` builds its columns), so records and frames score alike.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from leadmodel.features import (
    LeadFeatures,
    RecordColumns,
    plain_array,
    time_array,
    timestamps,
    to_numeric_array,
)

_ZONE = dt.timezone(dt.timedelta(hours=2))
_WEST = dt.timezone(dt.timedelta(hours=-5))
#: Columns of plain values, with the awkward ones pandas types differently.
_COLUMNS: dict[str, list[object]] = {
    "text": ["a", None, " b ", "a", ""],
    "none": [None, None, None, None, None],
    "whole": [1, 2, 3, 4, -5],
    "whole_missing": [1, None, 3, 4, 5],
    "floats": [1.5, None, 2, float("nan"), 0.0],
    "huge": [2**70, 1, 2, 3, None],
    "bools": [True, False, True, True, False],
    "mixed": [1, "1", 1.0, True, None],
    "numpy": [np.float64(1.5), 2.0, None, 3.0, 4.0],
}
_TIMES: dict[str, list[object]] = {
    "naive": [dt.datetime(2024, 3, 2, 23, 5), None, dt.datetime(1, 1, 1, 5), pd.NaT],
    "one_zone": [dt.datetime(2024, 3, 2, 23, 5, tzinfo=_ZONE), None],
    "two_zones": [
        dt.datetime(2024, 3, 2, 23, 5, tzinfo=_ZONE),
        dt.datetime(2024, 1, 1, tzinfo=_WEST),
    ],
    "naive_and_zoned": [dt.datetime(2024, 3, 2, 23, 5), dt.datetime(2024, 3, 3, 1, tzinfo=_ZONE)],
    "dates": [dt.date(2024, 3, 2), dt.datetime(2024, 3, 2, 7, 30), None],
    "timestamps": [pd.Timestamp("2024-07-01 10:00:00.123456789", tz="Europe/Copenhagen"), None],
    "text": ["2024-03-02 23:05", None, "not a date", 7],
}


@pytest.fixture(scope="module")
def columns() -> RecordColumns:
    n = len(next(iter(_COLUMNS.values())))
    records = [{name: values[i] for name, values in _COLUMNS.items()} for i in range(n)]
    records[1].pop("text")  # an absent key is a missing value
    return RecordColumns(records)


@pytest.mark.parametrize("name", list(_COLUMNS))
def test_a_column_is_what_pandas_infers(columns, name) -> None:
    values = [None if name == "text" and i == 1 else v for i, v in enumerate(_COLUMNS[name])]
    text = name in ("text", "none")  # text is kept as object (same values, cheaper to code)
    want = pd.Series(values, name=name, dtype=object if text else None)
    pd.testing.assert_series_equal(columns[name], want)
    array = plain_array(values)
    plain = name in ("text", "none", "whole", "whole_missing", "floats")
    assert (array is not None) == plain, name
    np.testing.assert_array_equal(columns.numbers(name), to_numeric_array(want))
    codes, uniques = columns.factorized(name)
    want_codes, want_uniques = LeadFeatures._factorize(want)
    np.testing.assert_array_equal(codes, want_codes)
    assert uniques == want_uniques


def test_text_codes_are_pandas_codes_for_many_values() -> None:
    rng = np.random.default_rng(5)
    values = [None if i % 7 == 0 else f"v{i}" for i in rng.integers(0, 50, 20_000)]
    codes, uniques = RecordColumns([{"c": v} for v in values]).factorized("c")
    want_codes, want_uniques = pd.factorize(np.asarray(values, dtype=object))
    np.testing.assert_array_equal(codes, want_codes)
    assert uniques == list(want_uniques)


@pytest.mark.parametrize("name", list(_TIMES))
def test_times_are_each_at_their_own_wall_clock(name) -> None:
    values = _TIMES[name]
    want = np.array(
        [
            np.datetime64("NaT")
            if v is None or v is pd.NaT or not isinstance(v, dt.date | str)
            else np.datetime64(pd.Timestamp(v).tz_localize(None), "us")
            if not isinstance(v, str)
            else np.datetime64(pd.Timestamp(v), "us")
            if v[0].isdigit()
            else np.datetime64("NaT")
            for v in values
        ],
        dtype="datetime64[us]",
    )
    got = RecordColumns([{"t": v} for v in values]).stamps("t")
    np.testing.assert_array_equal(got, want)
    # a frame's column of the same values is read the same way (mixed zones included)
    frame = timestamps(pd.DataFrame.from_records([{"t": v} for v in values])["t"])
    np.testing.assert_array_equal(frame.to_numpy(dtype="datetime64[us]"), want)
    np.testing.assert_array_equal(time_array(np.asarray(values, dtype=object)), want)
