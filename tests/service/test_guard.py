"""The bearer-token gate in-process: the header rule and the token setting."""

from __future__ import annotations

import pytest

from leadmodel.serving.guard import authorized
from leadmodel.serving.settings import EMPTY_TOKEN, TOKEN_ENV, TokenError, api_token

TOKEN = b"s3cret-Token_42"


@pytest.mark.parametrize(
    "header",
    [b"Bearer s3cret-Token_42", b"bearer s3cret-Token_42", b"BEARER s3cret-Token_42",
     b"Bearer  s3cret-Token_42"],
)  # fmt: skip
def test_the_scheme_is_case_insensitive(header: bytes) -> None:
    assert authorized(header, TOKEN)


@pytest.mark.parametrize(
    "header",
    [b"", b"Bearer", b"Bearer ", b"s3cret-Token_42", b"Basic s3cret-Token_42",
     b"Bearers3cret-Token_42", b"Bearer s3cret-token_42", b"Bearer s3cret-Token_42 ",
     b"Bearer s3cret-Token_4", b"Token s3cret-Token_42", b"bearer: s3cret-Token_42"],
)  # fmt: skip
def test_the_token_is_exact(header: bytes) -> None:
    assert not authorized(header, TOKEN)


def test_token_setting() -> None:
    assert api_token({}) is None  # unset: the API is open (and the service says so)
    assert api_token({TOKEN_ENV: "abc"}) == "abc"
    for blank in ("", " ", "\t\n"):
        with pytest.raises(TokenError) as caught:
            api_token({TOKEN_ENV: blank})
        assert str(caught.value) == EMPTY_TOKEN
    assert TOKEN_ENV in EMPTY_TOKEN and "\n" not in EMPTY_TOKEN


def test_service_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from leadmodel.serving.settings import ServiceSettings

    monkeypatch.setenv("LEADMODEL_MODEL_URI", "models:/acme/7")
    monkeypatch.setenv(TOKEN_ENV, "s3cret")
    settings = ServiceSettings.from_environment()
    assert settings.model_uri == "models:/acme/7" and settings.api_token == "s3cret"
    assert "s3cret" not in repr(settings)  # never in a log line
    monkeypatch.delenv("LEADMODEL_MODEL_URI")
    monkeypatch.setenv(TOKEN_ENV, " ")
    with pytest.raises(TokenError, match="set but empty"):
        ServiceSettings.from_environment()
    monkeypatch.delenv(TOKEN_ENV)
    unset = ServiceSettings.from_environment()
    assert unset.api_token is None and unset.model_uri == "models:/lead-scorer@champion"
