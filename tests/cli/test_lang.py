"""The command line in Danish: ``--lang``, ``LEADMODEL_LANG``, summaries and error lines (issue 14).

Through the real ``leadmodel`` app (Typer's runner) and the session's trained model; each
check compares the Danish text with the English one of the same command, so a message
that falls back to English, a number in English form or a changed exit code fails here.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from leadmodel import i18n
from leadmodel.cli import app

ROWS = 1_200  # "1.200" in Danish, "1,200" in English
SEED = 5


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def _invoke(runner: CliRunner, *args: str, lang: str | None = None):
    env = {i18n.LANG_ENV: lang} if lang is not None else {i18n.LANG_ENV: ""}
    return runner.invoke(app, list(args), env=env)


def test_synth_summary_in_danish_with_danish_numbers_and_the_same_json(runner, tmp_path) -> None:
    out = str(tmp_path / "leads.csv")
    synth = ("synth", "--rows", str(ROWS), "--seed", str(SEED), "--out", out, "--drift")
    english_json = _invoke(runner, *synth, "--json")
    danish_json = _invoke(runner, "--lang", "da", *synth, "--json")
    assert english_json.exit_code == danish_json.exit_code == 0, danish_json.output
    facts = json.loads(english_json.stdout)
    assert json.loads(danish_json.stdout) == facts  # machine output is the same in every language

    shown = _invoke(runner, "--lang", "da", *synth)
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert "Syntetisk eksport" in text and "lukkerate (afgjorte)" in text
    assert "1.200" in text and "1,200" not in text
    assert i18n.percent(facts["close_rate"], 1, lang="da") in text  # e.g. "8,2 %"
    assert "datadrift: lukkerate" in text
    for english in ("Synthetic export", "close rate", "rows", "oldest quarter"):
        assert english not in text


def test_bad_input_is_one_danish_line_with_the_english_exit_code(runner, tmp_path) -> None:
    out = str(tmp_path / "x.csv")
    english = _invoke(runner, "synth", "--rows", "0", "--out", out)
    danish = _invoke(runner, "--lang", "da", "synth", "--rows", "0", "--out", out)
    assert english.exit_code == danish.exit_code == 2
    assert english.stderr.strip() == "error: --rows: must be a positive number of leads, got 0"
    assert danish.stderr.strip() == "fejl: --rows: skal være et positivt antal leads, men er 0"
    assert "Traceback" not in danish.output


def test_library_errors_and_summaries_follow_leadmodel_lang(runner, trained) -> None:
    name = trained.model_name
    english = _invoke(runner, "promote", "999", "--name", name)
    danish = _invoke(runner, "promote", "999", "--name", name, lang="da")
    assert english.exit_code == danish.exit_code == 2
    assert english.stderr.strip() == f"error: model '{name}' has no version 999"
    assert danish.stderr.strip() == f"fejl: modellen '{name}' har ingen version 999"

    listed = _invoke(runner, "models", "--name", name, lang="da_DK.UTF-8")
    assert listed.exit_code == 0, listed.output
    auc = trained.result.metrics["close"]["roc_auc"]
    headers = listed.stdout.split()  # a narrow table wraps its headers at spaces
    assert "(vundet)" in headers and "oprettet" in headers and "champion" in headers
    assert i18n.number(auc, 4, lang="da") in listed.stdout  # "0,7123", not "0.7123"
    assert i18n.number(auc, 4, lang="en") not in listed.stdout
    overridden = runner.invoke(
        app, ["--lang", "en", "models", "--name", name], env={i18n.LANG_ENV: "da"}
    )
    assert "created" in overridden.stdout.split()  # --lang wins over the environment
    assert i18n.number(auc, 4, lang="en") in overridden.stdout


def test_unknown_language_is_refused_in_one_line(runner) -> None:
    refused = _invoke(runner, "--lang", "de", "mappings")
    assert refused.exit_code == 2
    assert refused.stderr.strip().splitlines() == [
        "error: --lang: language 'de' is not available (choose one of: en, da)"
    ]
    from_env = _invoke(runner, "mappings", lang="klingon")
    assert from_env.exit_code == 2
    assert from_env.stderr.strip().startswith("error: LEADMODEL_LANG: language 'klingon'")


def test_the_language_ends_with_the_command(runner) -> None:
    assert _invoke(runner, "--lang", "da", "mappings").exit_code == 0
    assert i18n.current() == "en"  # the next command or test of this process is not Danish


def test_help_follows_leadmodel_lang_at_import() -> None:
    """``--help`` is built at import, so only ``LEADMODEL_LANG`` (not ``--lang``) sets it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import leadmodel

    src = str(Path(leadmodel.__file__).resolve().parents[1])  # this checkout, not another
    shown = {}
    for lang in ("da", "en"):
        env = os.environ | {i18n.LANG_ENV: lang, "PYTHONPATH": src, "COLUMNS": "200"}
        run = subprocess.run(
            [sys.executable, "-m", "leadmodel", "score", "--help"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        shown[lang] = run.stdout
    assert "Leads, der skal scores (CSV eller Parquet)." in shown["da"]
    assert "Scor en fil med leads til CRM'et" in shown["da"]
    assert "Leads to score (CSV or Parquet)." not in shown["da"]
    assert "Leads to score (CSV or Parquet)." in shown["en"]
    assert "Score a file of leads for the CRM" in shown["en"]
