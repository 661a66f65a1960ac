"""What ``make demo`` (``training/demo.sh``) says between its commands, in every language.

The lines are catalogue messages like every other text a person reads, so
``LEADMODEL_LANG=da make demo`` prints them in Danish, as it does the commands' own
summaries. ``python -m leadmodel.demo STEP [name=value ...]`` prints the line of a step
(whole numbers among the values are written as the language writes them);
``python -m leadmodel.demo preview SCORES [N]`` prints the first scores of a scores file.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from leadmodel import i18n
from leadmodel.i18n import N_, _

#: The demo's lines by step; ``{name}`` placeholders come from the ``name=value`` arguments.
LINES = {
    "synth": N_("== 1. generate a synthetic CRM export ({rows} leads, seed {seed})"),
    "validate": N_("== 2. validate it"),
    "train": N_("== 3. train, evaluate, track in MLflow ({store}) and register"),
    "report": N_(
        "== 4. write the marketing report (reasons, sources, awareness, hand-over threshold)"
    ),
    "report_at": N_("report: {path}"),
    "score": N_(
        "== 5. score a fresh batch of {rows} leads with the champion, as the nightly CRM sync does"
    ),
    "history": N_("(every score is also in the prediction log: {command})"),
    "monitor": N_(
        "== 6. later: a batch in which a new channel brings leads the model never saw; monitor it"
    ),
    "monitor_at": N_("monitoring page: {path} (exit code {code}: 1 = alarm)"),
    "done": N_("Done. Browse the runs: {command}"),
}
#: The columns of a scores file the preview shows (file columns keep their names).
PREVIEW_COLUMNS = ("lead_id", "p_accept", "p_close", "score", "tier", "reasons")
PREVIEW_ROWS = 5
PREVIEW_DECIMALS = 3
#: Wide enough for the reasons column, as a terminal shows it.
PREVIEW_WIDTH = 200
PREVIEW_COLWIDTH = 90


class DemoError(ValueError):
    """A step or an argument the demo does not know."""


def line(step: str, values: Sequence[str] = ()) -> str:
    """The demo's line for ``step`` in the current language, filled from ``name=value``."""
    if step not in LINES:
        raise DemoError(
            _("demo: no step '{step}' (steps: {steps})").format(step=step, steps=", ".join(LINES))
        )
    filled: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            raise DemoError(_("demo: expected name=value, got {item}").format(item=repr(item)))
        filled[name] = i18n.number(int(value)) if value.isdigit() else value
    try:
        return _(LINES[step]).format(**filled)
    except KeyError as exc:
        raise DemoError(
            _("demo: step '{step}' needs {name}=VALUE").format(step=step, name=exc.args[0])
        ) from None


def preview(path: str, rows: int = PREVIEW_ROWS) -> str:
    """The first ``rows`` scores of a scores file, numbers as the current language writes them."""
    import pandas as pd

    frame = pd.read_csv(path)
    shown = [c for c in PREVIEW_COLUMNS if c in frame.columns]
    with pd.option_context(
        "display.width", PREVIEW_WIDTH, "display.max_colwidth", PREVIEW_COLWIDTH
    ):
        return (
            frame[shown]
            .head(rows)
            .to_string(index=False, float_format=lambda v: i18n.number(v, PREVIEW_DECIMALS))
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m leadmodel.demo STEP [name=value ...]`` or ``preview SCORES [N]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        lang = i18n.current()  # LEADMODEL_LANG, else English
    except i18n.LanguageError as exc:
        print(
            _("error: {where}: {problem}").format(where=i18n.LANG_ENV, problem=exc), file=sys.stderr
        )
        return 2
    with i18n.using(lang):
        try:
            if not args:
                steps = ", ".join(LINES)
                raise DemoError(_("demo: name a step (steps: {steps})").format(steps=steps))
            if args[0] == "preview" and len(args) in (2, 3):
                print(preview(args[1], int(args[2]) if len(args) == 3 else PREVIEW_ROWS))
            else:
                print(line(args[0], args[1:]))
        except (DemoError, OSError) as exc:
            label = _("error")
            print(f"{label}: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
