"""The message catalogues: every marked text has its Danish translation, compiled and shipped.

The messages are extracted from the sources the way ``make translations`` does (Babel with
``babel.cfg``), so a new English text without a Danish entry fails here, not in front of a
Danish user.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from leadmodel import i18n

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "leadmodel"
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "N_": None,
}
PLACEHOLDER = re.compile(r"(?<!\{)\{([a-zA-Z_][a-zA-Z0-9_]*)(?:[:!][^}]*)?\}")
#: Placeholders of the templates' {% trans %} blocks (Jinja2 writes them %-style).
PERCENT_PLACEHOLDER = re.compile(r"%\(([a-zA-Z_][a-zA-Z0-9_]*)\)s")


def extracted() -> dict[tuple[str, str | None], str]:
    """Every message the package marks, as (msgid, context) -> where it is."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[tuple[str, str | None], str] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        PACKAGE, method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found[(msgid, context)] = f"{filename}:{lineno}"
    return found


def catalogue(lang: str):
    with (PACKAGE / "locale" / lang / "LC_MESSAGES" / "leadmodel.po").open("rb") as po:
        return read_po(po, locale=lang)


@pytest.mark.parametrize("lang", [code for code in i18n.LANGUAGES if code != "en"])
def test_every_message_has_a_translation(lang: str) -> None:
    po = catalogue(lang)
    missing = []
    for (msgid, context), where in extracted().items():
        entry = po.get(msgid, context=context)
        strings = entry.string if entry is not None else None
        texts = strings if isinstance(strings, tuple) else (strings,)
        if entry is None or entry.fuzzy or not all(texts):
            missing.append(f"{where}: {msgid!r}")
    assert not missing, (
        f"{len(missing)} messages have no {lang} translation "
        f"(run `make translations` and translate them):\n" + "\n".join(missing)
    )


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text)) | {"%" + n for n in PERCENT_PLACEHOLDER.findall(text)}


@pytest.mark.parametrize("lang", [code for code in i18n.LANGUAGES if code != "en"])
def test_translations_keep_their_placeholders(lang: str) -> None:
    wrong = []
    for entry in catalogue(lang):
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        expected = set().union(*(_placeholders(text) for text in ids))
        for text in strings:
            if text and _placeholders(text) != expected:
                wrong.append(f"{ids[0]!r} -> {text!r}")
    assert not wrong, "translations with other placeholders than their message:\n" + "\n".join(
        wrong
    )


def texts(value: str | list[str] | tuple[str, ...]) -> str | tuple[str, ...]:
    """A message's text, or its plural forms as a tuple (the .mo reader gives lists)."""
    return value if isinstance(value, str) else tuple(value)


@pytest.mark.parametrize("lang", [code for code in i18n.LANGUAGES if code != "en"])
def test_compiled_catalogue_matches_its_source(lang: str) -> None:
    folder = PACKAGE / "locale" / lang / "LC_MESSAGES"
    with (folder / "leadmodel.mo").open("rb") as mo:
        compiled = {(texts(m.id), m.context): texts(m.string) for m in read_mo(mo) if m.id}
    source = {
        (texts(m.id), m.context): texts(m.string) for m in catalogue(lang) if m.id and not m.fuzzy
    }
    assert compiled == source, "leadmodel.mo is out of date: run `make translations`"


def _key(message) -> tuple:
    """A message's id and context; a plural's ids as a tuple (read_mo gives a list)."""
    ids = message.id if isinstance(message.id, str) else tuple(message.id)
    return ids, message.context


def _strings(message) -> str | tuple:
    return message.string if isinstance(message.string, str) else tuple(message.string)


def test_language_comes_from_the_call_then_the_environment(monkeypatch) -> None:
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    assert i18n.current() == "en"
    monkeypatch.setenv(i18n.LANG_ENV, "da_DK.UTF-8")
    assert i18n.current() == "da"
    with i18n.using("en"):
        assert i18n.current() == "en"
    assert i18n.current() == "da"
    with pytest.raises(i18n.LanguageError, match="'de' is not available"):
        i18n.resolve("de")


def test_numbers_follow_the_current_language_from_call_to_call() -> None:
    """The locale is looked up per call (a cached default once kept the first language)."""
    for lang, expected in (("da", "1.200,5"), ("en", "1,200.5"), ("da", "1.200,5")):
        with i18n.using(lang):
            assert i18n.number(1200.5) == expected
            assert i18n.percent(0.125, 1) == {"da": "12,5\xa0%", "en": "12.5%"}[lang]


def test_numbers_and_dates_as_each_language_writes_them() -> None:
    assert i18n.number(2.5, lang="da") == "2,5"
    assert i18n.number(1200, lang="da") == "1.200"
    assert i18n.number(1200.5, 1, lang="en") == "1,200.5"
    assert i18n.percent(0.125, 1, lang="da") == "12,5\xa0%"
    assert i18n.percent(0.125, 1, lang="en") == "12.5%"
    assert i18n.date(dt.date(2026, 7, 1), lang="da") == "1. jul. 2026"
    assert i18n.symbols("da").decimal == ","
    for lang, text in (("en", "1,200.5"), ("da", "1.200,5"), ("en", "1,200.5")):
        with i18n.using(lang):  # the current language, asked again on every call
            assert i18n.number(1200.5) == text
