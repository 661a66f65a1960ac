"""Hot reload without a server: a version that does not load is refused, a good one is
swapped in; the settings of the log and the polling are read and refused in one line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from mlflow import MlflowClient

from leadmodel import tracking
from leadmodel.serving.reload import ModelWatcher
from leadmodel.serving.scoring import Scorer, alias_of
from leadmodel.serving.settings import (
    FLUSH_ENV,
    RELOAD_ENV,
    ServiceSettings,
    SettingsError,
)
from tests.conftest import Trained
from tests.service.conftest import register_copies

MODEL_NAME = "lead-scorer-reload"


def test_watcher_keeps_serving_when_the_new_version_fails_and_swaps_a_good_one(
    trained: Trained, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    good, later = register_copies(trained.result.model_uri, MODEL_NAME, 2)
    client = MlflowClient()
    broken = client.create_model_version(MODEL_NAME, source=str(tmp_path / "no-model")).version
    tracking.promote(MODEL_NAME, good)
    uri = f"models:/{MODEL_NAME}@champion"
    served = {"scorer": Scorer.load(uri)}
    watcher = ModelWatcher(uri, 1.0, lambda: served["scorer"], lambda s: served.update(scorer=s))
    first = served["scorer"]
    assert first.ref.version == good and first.ref.uri == uri

    assert watcher.check() is None  # the alias has not moved

    tracking.promote(MODEL_NAME, broken)
    with caplog.at_level(logging.ERROR, logger="leadmodel.service"):
        assert watcher.check() is None
        assert watcher.check() is None  # refused once, not tried (or logged) again
    assert served["scorer"] is first
    lines = [r.getMessage() for r in caplog.records if r.name == "leadmodel.service"]
    assert len(lines) == 1, lines
    assert f"version {broken}" in lines[0] and f"still serving version {good}" in lines[0]

    tracking.promote(MODEL_NAME, later)
    assert watcher.check() == later
    swapped = served["scorer"]
    assert swapped.ref.version == later and swapped.ref.uri == uri
    assert swapped.model_info().alias == "champion"


def test_fixed_versions_are_not_followed() -> None:
    assert alias_of("models:/lead-scorer/3") is None
    assert alias_of("runs:/abc/model") is None
    assert alias_of("models:/lead-scorer@champion") == ("lead-scorer", "champion")
    with pytest.raises(ValueError, match="not an alias URI"):
        ModelWatcher("models:/lead-scorer/3", 1.0, lambda: None, lambda s: None)  # type: ignore[arg-type,return-value]


def test_settings_of_the_log_and_the_polling(tmp_path: Path) -> None:
    settings = ServiceSettings.from_environment(
        {"LEADMODEL_LOG_DIR": str(tmp_path), FLUSH_ENV: "0.25", RELOAD_ENV: "0"}
    )
    assert (settings.log_dir, settings.flush_seconds, settings.reload_seconds) == (
        tmp_path.resolve(),
        0.25,
        0.0,
    )
    assert ServiceSettings.from_environment({"LEADMODEL_LOG_DIR": "OFF"}).log_dir is None
    defaults = ServiceSettings.from_environment({})
    assert defaults.flush_seconds == 1.0 and defaults.log_dir is not None
    for env, message in (
        ({FLUSH_ENV: "0"}, f"{FLUSH_ENV}: input should be greater than 0"),
        ({RELOAD_ENV: "soon"}, f"{RELOAD_ENV}: input should be a valid number"),
    ):
        with pytest.raises(SettingsError) as caught:
            ServiceSettings.from_environment(env)
        assert str(caught.value).startswith(message), str(caught.value)
