"""Languages: every text a person reads, in English (the source) or Danish.

Texts are gettext messages: written in English in the code and the templates, marked with
:func:`gettext` (``_``), :func:`ngettext` or :func:`N_`, extracted by Babel into the
catalogue template ``locale/leadmodel.pot`` and translated in
``locale/<lang>/LC_MESSAGES/leadmodel.po``; the compiled ``.mo`` ships as package data
(``make translations`` extracts, updates and compiles; a test fails when a message has no
translation or the ``.mo`` is older than its ``.po``).

The language of a call is, first to last: the one set by :func:`using` (``--lang`` on the
command line, ``lang`` in a ``/score`` or ``/explain`` request), else ``LEADMODEL_LANG``,
else English. It lives in a :class:`~contextvars.ContextVar`, so concurrent requests of
the service each keep their own.

Numbers and dates are formatted by Babel from the language's CLDR data (``2,5`` and
``1.200`` in Danish): :func:`number`, :func:`percent`, :func:`date`; vectorised code that
formats many numbers at once takes the marks from :func:`marks` (or :func:`symbols`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import babel
import babel.dates
import babel.numbers
from babel.support import NullTranslations, Translations

#: Languages with a catalogue; the first is the source language of the messages.
LANGUAGES: Final = ("en", "da")
DEFAULT_LANGUAGE: Final = "en"
#: Environment variable that chooses the language when no option or request field does.
LANG_ENV: Final = "LEADMODEL_LANG"
#: gettext domain of the catalogues (``locale/<lang>/LC_MESSAGES/leadmodel.mo``).
DOMAIN: Final = "leadmodel"
#: Babel locale of each language (formats numbers and dates).
LOCALES: Final = {"en": "en_US", "da": "da_DK"}

_CURRENT: ContextVar[str | None] = ContextVar("leadmodel_lang", default=None)


class LanguageError(ValueError):
    """A language leadmodel has no catalogue for."""


def locale_dir() -> str:
    """The folder that holds the compiled catalogues (package data)."""
    return str(resources.files("leadmodel") / "locale")


def resolve(lang: str | None) -> str:
    """The language code for ``lang`` (``da``, ``da_DK``, ``da-DK.UTF-8``), else the default.

    ``None`` or an empty string means: ``LEADMODEL_LANG``, else English. Raises
    :class:`LanguageError` naming the value and the languages there are.
    """
    if lang is None or not str(lang).strip():
        lang = os.environ.get(LANG_ENV) or DEFAULT_LANGUAGE
    code = str(lang).strip().split(".")[0].replace("-", "_").split("_")[0].lower()
    if code not in LANGUAGES:
        raise LanguageError(
            f"language {lang!r} is not available (choose one of: {', '.join(LANGUAGES)})"
        )
    return code


def current() -> str:
    """The language of this call (see the module docstring)."""
    chosen = _CURRENT.get()
    return chosen if chosen is not None else _environment_language(os.environ.get(LANG_ENV))


@functools.lru_cache(maxsize=8)
def _environment_language(value: str | None) -> str:
    """:func:`resolve` of ``LEADMODEL_LANG``'s value (read per call, resolved once)."""
    return resolve(value)


@contextlib.contextmanager
def using(lang: str | None) -> Iterator[str]:
    """Run a block in language ``lang`` (resolved by :func:`resolve`); yields the code."""
    token = _CURRENT.set(resolve(lang))
    try:
        yield _CURRENT.get() or DEFAULT_LANGUAGE
    finally:
        _CURRENT.reset(token)


@functools.cache
def translations(lang: str) -> NullTranslations:
    """The compiled catalogue of ``lang`` (English: the messages as written)."""
    code = resolve(lang)
    if code == DEFAULT_LANGUAGE:
        return NullTranslations()
    found = Translations.load(locale_dir(), [code], DOMAIN)
    if not isinstance(found, Translations):
        raise LanguageError(f"no compiled catalogue for {code!r} under {locale_dir()}")
    return found


def gettext(message: str) -> str:
    """``message`` in the current language."""
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a message for ``n``, in the current language."""
    return translations(current()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` in the current language, told apart from its homonyms by ``context``."""
    return translations(current()).pgettext(context, message)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention
    """Mark ``message`` for the catalogue without translating it (translate when shown)."""
    return message


_ = gettext


def locale(lang: str | None = None) -> babel.Locale:
    """Babel's locale of ``lang`` (default: the current language)."""
    return _locale(resolve(lang) if lang else current())


@functools.cache
def _locale(code: str) -> babel.Locale:
    """Cached by the resolved code: a cache on ``lang=None`` kept the first call's language."""
    return babel.Locale.parse(LOCALES[code])


@dataclass(frozen=True)
class Symbols:
    """How a language writes numbers: decimal mark, group separator, minus, percent."""

    decimal: str
    group: str
    minus: str
    percent_pattern: str  # e.g. "#,##0%" (en) or "#,##0 %" (da)


@functools.cache
def _symbols(code: str) -> Symbols:
    where = locale(code)
    return Symbols(
        decimal=babel.numbers.get_decimal_symbol(where),
        group=babel.numbers.get_group_symbol(where),
        minus=babel.numbers.get_minus_sign_symbol(where),
        percent_pattern=where.percent_formats[None].pattern,
    )


def symbols(lang: str | None = None) -> Symbols:
    """The number symbols of ``lang`` (default: the current language)."""
    return _symbols(resolve(lang) if lang else current())


@functools.cache
def _marks(code: str) -> dict[int, str]:
    found = _symbols(code)
    return str.maketrans({",": found.group, ".": found.decimal, "-": found.minus})


def marks(lang: str | None = None) -> dict[int, str]:
    """A ``str.translate`` table from Python's number marks (``-1,200.5``) to how ``lang``
    writes them (default: the current language): for code that formats many numbers with
    Python's own formats and changes the marks once."""
    return _marks(resolve(lang) if lang else current())


@functools.cache
def _decimal_pattern(decimals: int | None, grouping: bool) -> str:
    integer = "#,##0" if grouping else "0"
    if decimals is None:
        return integer + ".###"
    return integer + ("." + "0" * decimals if decimals > 0 else "")


def number(
    value: float | int,
    decimals: int | None = None,
    *,
    grouping: bool = True,
    lang: str | None = None,
) -> str:
    """``value`` as the language writes it: ``1,200.5`` / ``1.200,5``.

    ``decimals`` fixes the number of decimals; ``None`` shows up to three, without
    trailing zeros. ``grouping=False`` leaves out the thousands separator.
    """
    return babel.numbers.format_decimal(
        value, format=_decimal_pattern(decimals, grouping), locale=locale(lang)
    )


def percent(value: float, decimals: int = 0, *, lang: str | None = None) -> str:
    """A share as a percentage: ``0.125`` -> ``12.5%`` (en) or ``12,5 %`` (da)."""
    pattern = symbols(lang).percent_pattern
    if decimals > 0:
        pattern = _with_decimals(pattern, decimals)
    return babel.numbers.format_percent(value, format=pattern, locale=locale(lang))


def _with_decimals(pattern: str, decimals: int) -> str:
    """A CLDR number pattern with ``decimals`` fixed decimals after its last integer digit."""
    last = pattern.rfind("0")
    return pattern[: last + 1] + "." + "0" * decimals + pattern[last + 1 :]


def date(value: dt.date | dt.datetime, format: str = "medium", *, lang: str | None = None) -> str:
    """A date as the language writes it (Babel's ``format_date``)."""
    return babel.dates.format_date(value, format=format, locale=locale(lang))


def datetime(value: dt.datetime, format: str = "medium", *, lang: str | None = None) -> str:
    """A date and time as the language writes it (Babel's ``format_datetime``)."""
    return babel.dates.format_datetime(value, format=format, locale=locale(lang))


def install(environment: Any) -> Any:
    """Give a Jinja2 environment ``{% trans %}``, ``_()`` and ``ngettext`` in the current language.

    The callables look the language up at render time, so one environment renders any
    language (``with i18n.using("da"): template.render(...)``).
    """
    environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_callables(gettext, ngettext, newstyle=True, pgettext=pgettext)
    return environment
