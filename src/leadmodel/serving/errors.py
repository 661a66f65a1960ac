"""Refused requests as one clear line: ``leads[3].website_visits: must be >= 0``.

pydantic reports where a request is wrong as a location tuple
(``("body", "leads", 3, "website_visits")``); this module turns it into the path a CRM
developer reads, the field, the lead's index and a short message, in the current
language (:mod:`leadmodel.i18n`: the request's ``lang``, else the server's). Error text
never contains the value that was sent (it may be personal data).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from leadmodel.i18n import N_, _, ngettext

#: Problems listed in one error response (the first one is also the one-line ``error``).
MAX_REPORTED_ERRORS = 50
#: Location parts that name the lead list, the single lead, and the changes of a what-if.
_LEAD_LISTS = frozenset({"leads"})
_LEAD_OBJECTS = frozenset({"lead", "changes"})
#: Tags pydantic appends to the location of a union member (``("x", "str")``).
_UNION_TAGS = frozenset({"str", "float", "bool", "int", "none", "datetime", "date"})


@dataclass(frozen=True)
class Problem:
    """One problem with a request, located."""

    loc: str
    field: str | None
    index: int | None
    message: str

    @property
    def line(self) -> str:
        return f"{self.loc}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"loc": self.loc, "field": self.field, "index": self.index, "message": self.message}


class RequestProblem(Exception):
    """A request the service refuses after parsing (e.g. duplicate ids); HTTP 422."""

    def __init__(self, problems: Sequence[Problem], status: int = 422) -> None:
        super().__init__(problems[0].line)
        self.problems = list(problems)
        self.status = status


def locate(parts: Sequence[str | int]) -> tuple[str, str | None, int | None]:
    """``("leads", 3, "x")`` -> ``("leads[3].x", "x", 3)``; ``()`` -> ``("body", None, None)``."""
    parts = list(parts)
    if len(parts) >= 2 and parts[-1] in _UNION_TAGS and isinstance(parts[-2], str):
        if parts[-2] not in _LEAD_LISTS | _LEAD_OBJECTS:
            parts.pop()  # ("leads", 3, "x", "str"): the member type of a union, not a place
    if not parts:
        return "body", None, None
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    index = next(
        (
            p
            for prev, p in zip(parts, parts[1:], strict=False)
            if prev in _LEAD_LISTS and isinstance(p, int)
        ),
        None,
    )
    names = [p for p in parts if isinstance(p, str)]
    field = str(parts[1]) if parts[0] in _LEAD_OBJECTS and len(parts) > 1 else names[-1]
    return text, field, index


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


#: The message of each pydantic error type that needs no numbers (translated when shown).
_SIMPLE: Final = {
    "missing": N_("is required"),
    "finite_number": N_("must be a finite number"),
    "float_type": N_("must be a number"),
    "float_parsing": N_("must be a number"),
    "int_type": N_("must be an integer"),
    "int_parsing": N_("must be an integer"),
    "int_from_float": N_("must be an integer"),
    "string_type": N_("must be a string"),
    "bool_type": N_("must be true or false"),
    "bool_parsing": N_("must be true or false"),
    "list_type": N_("must be a JSON array"),
    "dict_type": N_("must be a JSON object"),
    "model_type": N_("must be a JSON object"),
    "model_attributes_type": N_("must be a JSON object"),
    "extra_forbidden": N_("is not a field of this request"),
    "string_too_short": N_("must not be empty"),
    "json_invalid": N_("malformed JSON"),
}


def message(error: dict[str, Any]) -> str:
    """A short message for one pydantic error (never echoing the value sent), in the
    current language; an error type without a message of its own keeps pydantic's text."""
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind in _SIMPLE:
        return _(_SIMPLE[kind])
    if kind == "greater_than_equal":
        return _("must be >= {limit}").format(limit=_number(ctx.get("ge")))
    if kind == "less_than_equal":
        return _("must be <= {limit}").format(limit=_number(ctx.get("le")))
    if kind == "literal_error":
        # pydantic joins the last two with an English " or ": a plain list reads in any language
        allowed = str(ctx.get("expected")).replace(" or ", ", ")
        return _("must be one of {allowed} (or null)").format(allowed=allowed)
    if kind == "too_long":
        return _("at most {limit} items (got {count})").format(
            limit=ctx.get("max_length"), count=ctx.get("actual_length")
        )
    if kind == "too_short":
        return ngettext(
            "at least {limit} item", "at least {limit} items", _count(ctx, "min_length")
        ).format(limit=ctx.get("min_length"))
    if kind.startswith(("datetime", "date")):
        return _("must be an ISO 8601 date or date-time")
    text = str(error.get("msg", _("is not valid")))
    return text[:1].lower() + text[1:]


def _count(ctx: dict[str, Any], key: str) -> int:
    """An integer of pydantic's error context (0 when it has none)."""
    value = ctx.get(key)
    return value if isinstance(value, int) else 0


def _union_message(errors: list[dict[str, Any]]) -> str:
    kinds = {e.get("type") for e in errors}
    if "finite_number" in kinds:
        return _(_SIMPLE["finite_number"])
    if kinds & {"string_type", "float_type", "bool_type"} and len(errors) > 1:
        return _("must be a string, a number, true/false or null")
    return message(errors[0])


def problems_from_pydantic(errors: Iterable[dict[str, Any]], strip: int = 0) -> list[Problem]:
    """Located problems for pydantic errors (``strip`` leading location parts, e.g. ``body``).

    Errors of one union (one location, several member types) become one problem.
    """
    grouped: dict[tuple[str, str | None, int | None], list[dict[str, Any]]] = {}
    for error in errors:
        key = locate(tuple(error.get("loc", ()))[strip:])
        grouped.setdefault(key, []).append(error)
        if len(grouped) > MAX_REPORTED_ERRORS:
            grouped.pop(key)
            break
    return [
        Problem(loc, field, index, _union_message(errs))
        for (loc, field, index), errs in grouped.items()
    ]


def error_body(problems: Sequence[Problem]) -> dict[str, Any]:
    """The JSON body of a refused request (see ``leadmodel.serving.api.ErrorResponse``)."""
    shown = problems[:MAX_REPORTED_ERRORS]
    return {"error": shown[0].line, "errors": [p.as_dict() for p in shown]}
