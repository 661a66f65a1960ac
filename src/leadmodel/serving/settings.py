"""The service's settings: one typed object, read from the environment once per process.

``LEADMODEL_MODEL_URI`` (else the canonical model's champion), ``LEADMODEL_API_TOKEN``
(:func:`api_token`'s rule: unset = open API, set but empty =
refused), the prediction log (``LEADMODEL_LOG_DIR``, :func:`leadmodel.predlog.log_dir`;
``LEADMODEL_LOG_FLUSH_SECONDS``), the registry polling of hot reload
(``LEADMODEL_RELOAD_SECONDS``) and the limits below. Nothing is read at import:
:func:`service_settings` reads them the first time the service (or its guard) starts, and
every later call gets the same object.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadmodel import predlog, tracking
from leadmodel.i18n import _

TOKEN_ENV = "LEADMODEL_API_TOKEN"
#: Why the service refuses to start with the variable set to nothing or whitespace.
EMPTY_TOKEN = f"{TOKEN_ENV} is set but empty: set a token, or unset it to serve without one"
#: What the service logs at start-up when the variable is unset.
NO_TOKEN = (
    f"{TOKEN_ENV} is not set: the API is open to anyone who can reach it; "
    "set a token unless a network boundary protects it"
)


FLUSH_ENV = "LEADMODEL_LOG_FLUSH_SECONDS"
RELOAD_ENV = "LEADMODEL_RELOAD_SECONDS"


class SettingsError(ValueError):
    """A setting of the service's environment is not usable (one clear line)."""


class TokenError(SettingsError):
    """``LEADMODEL_API_TOKEN`` is set but holds no token."""


def api_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The bearer token the API requires; None when ``LEADMODEL_API_TOKEN`` is unset.

    Raises :class:`TokenError` when the variable is set to nothing or only whitespace (a
    typo or an empty secret must not open the API). A token is used exactly as set.
    """
    value = (os.environ if environ is None else environ).get(TOKEN_ENV)
    if value is None:
        return None
    if not value.strip():
        raise TokenError(EMPTY_TOKEN)
    return value


#: Seconds one request may take before BentoML answers 504 (BentoML needs it at import).
REQUEST_TIMEOUT_S = 60
#: The BentoML service's name, the key of its section in BentoML's configuration.
SERVICE_NAME = "lead_scorer"
#: BentoML's documented variable of JSON configuration overrides (its public interface).
BENTOML_OVERRIDES_ENV = "BENTOML_CONFIG_OVERRIDES"


def workers_overrides(workers: int, environ: Mapping[str, str] | None = None) -> str:
    """``BENTOML_CONFIG_OVERRIDES`` that runs the service on ``workers`` processes.

    Each worker is a process with the model, its own prediction-log writer and registry
    poll; one per core serves single-lead traffic on every core. Overrides already in the
    environment are kept (this adds only the service's ``workers``).
    """
    import json

    if workers < 1:
        raise SettingsError(
            _("--workers: must be 1 or more, got {workers}").format(workers=workers)
        )
    text = (os.environ if environ is None else environ).get(BENTOML_OVERRIDES_ENV, "").strip()
    try:
        overrides = json.loads(text) if text else {}
    except ValueError as exc:
        raise SettingsError(
            _("{variable}: not JSON ({problem})").format(
                variable=BENTOML_OVERRIDES_ENV, problem=exc
            )
        ) from None
    if not isinstance(overrides, dict):
        raise SettingsError(
            _("{variable}: must be a JSON object").format(variable=BENTOML_OVERRIDES_ENV)
        )
    services = overrides.setdefault("services", {})
    services.setdefault(SERVICE_NAME, {})["workers"] = workers
    return json.dumps(overrides)


class ServiceSettings(BaseModel):
    """What the running service is configured with."""

    model_config = ConfigDict(frozen=True)

    model_uri: str = Field(description="MLflow model served (LEADMODEL_MODEL_URI).")
    api_token: str | None = Field(
        None, repr=False, description="Bearer token the API requires (LEADMODEL_API_TOKEN)."
    )
    request_timeout_s: float = Field(REQUEST_TIMEOUT_S, gt=0)
    inline_leads: int = Field(
        16,
        ge=0,
        description="Requests with up to this many leads are answered in the event loop "
        "(about a millisecond: a thread hop would cost more); larger ones in a worker "
        "thread, one at a time, so the loop keeps answering health checks and small ones.",
    )

    log_dir: Path | None = Field(
        None,
        description="Folder of the prediction log (LEADMODEL_LOG_DIR, `leadmodel serve "
        "--log`; default `predictions/` beside the embedded MLflow store); None = off.",
    )
    flush_seconds: float = Field(
        1.0,
        gt=0,
        description="Seconds between writes of the prediction log "
        f"({FLUSH_ENV}): a crash loses at most the scores of the last interval.",
    )
    reload_seconds: float = Field(
        10.0,
        ge=0,
        description=f"Seconds between polls of the registry for the alias served ({RELOAD_ENV}); "
        "when it has moved, the new version is loaded and swapped in. 0 = no polling; "
        "a fixed version is never polled.",
    )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        """Read the settings; :class:`SettingsError` (one line) on an unusable value."""
        env = os.environ if environ is None else environ
        folder = env.get(predlog.LOG_ENV, "").strip()
        values: dict[str, Any] = {}
        for name, variable in (("flush_seconds", FLUSH_ENV), ("reload_seconds", RELOAD_ENV)):
            if env.get(variable, "").strip():
                values[name] = env[variable].strip()
        try:
            return cls(
                model_uri=tracking.default_model_uri(),
                api_token=api_token(env),
                log_dir=predlog.log_dir(folder) if folder else predlog.default_log_dir(),
                **values,
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            variable = {"flush_seconds": FLUSH_ENV, "reload_seconds": RELOAD_ENV}.get(
                str(error["loc"][0]), str(error["loc"][0])
            )
            raise SettingsError(f"{variable}: {error['msg'].lower()}") from None


@lru_cache(maxsize=1)
def service_settings() -> ServiceSettings:
    """This process's settings (read once)."""
    return ServiceSettings.from_environment()
