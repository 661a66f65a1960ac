"""The ``leadmodel`` command. Thin: parse options, call one library function, print a summary.

Each command prints a human summary, or one JSON object with ``--json``. Bad input ends
with one clear line on stderr and exit code 2, never a traceback. What a person reads
(summaries, table headers, hints, error lines) is in the language of ``--lang``, else
``LEADMODEL_LANG``, else English (:mod:`leadmodel.i18n`); ``--json`` keys and codes, file
columns and exit codes are the same in every language.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from leadmodel import i18n
from leadmodel.config import DEFAULT_MODEL_NAME
from leadmodel.i18n import _, ngettext


def _help_language() -> str:
    """The language of the ``--help`` texts: ``LEADMODEL_LANG`` when the module is imported.

    Typer reads every help text (options, arguments, commands) when this module is
    imported, before Click has parsed ``--lang``, so ``--lang`` cannot change them:
    ``LEADMODEL_LANG=da leadmodel score --help`` shows Danish help. An unknown value falls
    back to English here (``_setup`` then reports it as the one error line).
    """
    try:
        return i18n.resolve(None)
    except i18n.LanguageError:
        return i18n.DEFAULT_LANGUAGE


# The help texts below are translated in the help language; reset at the end of the module.
_HELP_LANGUAGE = i18n.using(_help_language())
_HELP_LANGUAGE.__enter__()

app = typer.Typer(
    name="leadmodel",
    help=_("Predict lead quality: P(accept), P(close), score, tier and the reasons why."),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


@contextmanager
def training_errors() -> Iterator[None]:
    """What a training run can fail on, as one line and exit 2 (``train``, ``retrain``)."""
    from leadmodel.config import ConfigError
    from leadmodel.ingest import IngestError
    from leadmodel.leakage import LeakageError
    from leadmodel.tracking import StoreError

    try:
        yield
    except (ConfigError, IngestError, LeakageError, StoreError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:  # e.g. an artifact folder that became read-only during the run
        fail(
            _("cannot write to the MLflow store: {problem} ({path})").format(
                problem=exc.strerror or exc, path=exc.filename or "-"
            )
        )


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one clear error line and exit (no traceback)."""
    label = _("error")
    err_console.print(f"[bold red]{label}:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _label_line(label: str, text: str, style: str) -> None:
    """``label: text`` with the label in ``style`` (a warning, a note, a verdict)."""
    console.print(f"[{style}]{label}:[/] {text}", highlight=False, soft_wrap=True)


def _n(value: float | int, decimals: int | None = None) -> str:
    """A number as the current language writes it (``1,200`` / ``1.200``)."""
    return i18n.number(value, decimals)


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (for machines)."""
    sys.stdout.write(json.dumps(obj, default=str) + "\n")


@app.callback()
def _setup(
    ctx: typer.Context,
    lang: str | None = typer.Option(
        None,
        "--lang",
        metavar="en|da",
        help=_("Language of what the command prints [default: $LEADMODEL_LANG, else en]."),
    ),
) -> None:
    """Choose the language of the command, and keep the libraries' chatter off a console.

    The language holds for the command's context only (:func:`leadmodel.i18n.using`), so
    one process can run commands in several languages. MLflow logs at INFO (table
    creation, "validating input example") and draws download progress bars on every model
    load; a user cannot act on either. Set the variables yourself to see them again.
    """
    import os

    try:
        ctx.with_resource(i18n.using(lang))
    except i18n.LanguageError as exc:
        ctx.with_resource(i18n.using(i18n.DEFAULT_LANGUAGE))  # the error line needs one
        option = "--lang" if lang is not None else i18n.LANG_ENV
        fail(f"{option}: {exc}")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


# --- options several commands share --------------------------------------------------------
MappingOption = Annotated[
    str | None,
    typer.Option(
        "--mapping",
        help=_(
            "Column mapping YAML for the export, or a preset: hubspot, salesforce, "
            "dynamics (see `leadmodel mappings`)."
        ),
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help=_("Print one JSON object."))]
MaxRejectShareOption = Annotated[
    float | None,
    typer.Option(
        "--max-reject-share",
        min=0.0,
        max=1.0,
        help=_(
            "Fail (exit 1) above this share of rejected rows "
            "[default: the mapping's max_reject_share, else 0.5]."
        ),
    ),
]
LogOption = Annotated[
    str | None,
    typer.Option(
        "--log",
        help=_(
            "Prediction log folder, or 'off' [default: $LEADMODEL_LOG_DIR, else "
            "predictions/ beside the MLflow SQLite store]."
        ),
    ),
]
#: ``--log`` of the commands that read the log (monitor, history): a folder, never 'off'.
LogReadOption = Annotated[
    str | None,
    typer.Option(
        "--log",
        help=_(
            "Prediction log folder [default: $LEADMODEL_LOG_DIR, else predictions/ beside "
            "the MLflow SQLite store]."
        ),
    ),
]


# --- commands are added below, one per step of the flow -------------------------------
MAPPED_MODEL_HELP = _(
    "Model URI [default: $LEADMODEL_MODEL_URI, else the champion of the mapping's "
    "model_name, else models:/{name}@champion]."
).format(name=DEFAULT_MODEL_NAME)


# --- the synthetic CRM export -----------------------------------------------------------
@app.command(help=_("Write a synthetic CRM export whose true probabilities are known."))
def synth(
    rows: int = typer.Option(10_000, "--rows", help=_("Number of leads to generate.")),
    seed: int = typer.Option(
        0, "--seed", help=_("Random seed: the same seed writes the same file.")
    ),
    out: str = typer.Option(..., "--out", help=_("Export to write (.csv, .parquet or .pq).")),
    truth_out: str | None = typer.Option(
        None,
        "--truth-out",
        help=_("Also write lead_id, p_accept, p_close (the true probabilities)."),
    ),
    messy: bool = typer.Option(
        False, "--messy", help=_("Add what real exports contain: bad spellings, gaps, bad rows.")
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help=_("Date of the export, YYYY-MM-DD (default 2026-06-30).")
    ),
    drift: bool = typer.Option(
        False,
        "--drift",
        help=_(
            "Let the close rate climb several-fold over the older part of the history "
            "(flat over the newest 30 %); the field effects stay the same."
        ),
    ),
    campaigns: int = typer.Option(
        0,
        "--campaigns",
        help=_(
            "Add a campaign column with this many campaigns of Zipf-like sizes, each "
            "with its own effect (try 400; 0 = off)."
        ),
    ),
    export_format: str = typer.Option(
        "canonical",
        "--format",
        help=_(
            "canonical, or a CRM's own export: hubspot, salesforce, dynamics (the "
            "columns and spellings its preset --mapping reads)."
        ),
    ),
    scenario: str | None = typer.Option(
        None,
        "--scenario",
        help=_(
            "Production drift for `leadmodel monitor` to find, from --scenario-from on: "
            "base_rate (the close rate climbs), new_source (a channel the model never saw), "
            "tracking_break (website_visits stops being recorded)."
        ),
    ),
    scenario_from: str | None = typer.Option(
        None,
        "--scenario-from",
        help=_("First day of the --scenario, YYYY-MM-DD [default: 120 days before --as-of]."),
    ),
    world: int | None = typer.Option(
        None,
        "--world",
        help=_(
            "Draw the business units as the export of this seed has them, so a later "
            "batch of another seed comes from the same company [default: --seed's own]."
        ),
    ),
    as_json: JsonOption = False,
) -> None:
    """Write a synthetic CRM export whose true probabilities are known."""
    from leadmodel.io import check_writable, write_table
    from leadmodel.synthetic import (
        CANONICAL_FORMAT,
        CRM_FORMATS,
        DEFAULT_AS_OF,
        SCENARIO_DEFAULT_DAYS,
        crm_export,
        generate,
        summarise,
    )

    if rows <= 0:
        fail(_("--rows: must be a positive number of leads, got {rows}").format(rows=rows))
    if campaigns < 0:
        fail(
            _("--campaigns: must be 0 (off) or a number of campaigns, got {campaigns}").format(
                campaigns=campaigns
            )
        )
    formats = (CANONICAL_FORMAT, *CRM_FORMATS)
    if export_format not in formats:
        fail(_one_of("--format", formats, export_format))
    if messy and export_format != CANONICAL_FORMAT:
        fail(_("--format: a CRM's export is written clean; drop --messy"))
    if scenario_from is not None and scenario is None:
        fail(_("--scenario-from: only used with --scenario"))
    targets = {"--out": out} | ({"--truth-out": truth_out} if truth_out else {})
    if truth_out and truth_out == out:
        fail(_("--truth-out: must differ from --out"))
    for option, path in targets.items():
        try:
            check_writable(path)
        except ValueError as exc:
            fail(f"{option}: {exc}")
    try:
        with err_console.status(_("generating {rows} leads...").format(rows=_n(rows))):
            data = generate(
                rows,
                seed=seed,
                messy=messy,
                as_of=as_of or DEFAULT_AS_OF,
                drift=drift,
                campaigns=campaigns,
                scenario=scenario,
                scenario_from=scenario_from,
                world=world,
            )
            export = data.export
            if export_format != CANONICAL_FORMAT:
                export = crm_export(export, export_format, seed=seed)
            write_table(export, out)
            if truth_out:
                write_table(data.truth, truth_out)
    except ValueError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(_("cannot write the export: {problem}").format(problem=exc))
    summary = summarise(data.export) | {"out": out, "truth_out": truth_out, "messy": messy}
    summary |= {"drift": drift, "campaigns": campaigns, "injected": data.injected}
    summary |= {"format": export_format}
    summary |= {"scenario": scenario, "scenario_from": scenario_from}
    if as_json:
        print_json(summary)
        return
    _synth_summary(summary)
    if drift:
        oldest, newest = summary["close_rate_oldest_quarter"], summary["close_rate_newest_quarter"]
        console.print(
            _("drift: close rate {oldest} (oldest quarter) -> {newest} (newest)").format(
                oldest=_pct(oldest), newest=_pct(newest)
            )
        )
    if scenario:
        if scenario_from:
            line = _("scenario: {scenario} from {day}").format(
                scenario=scenario, day=_day(scenario_from)
            )
        else:
            line = _("scenario: {scenario} from {days} days before the export's date").format(
                scenario=scenario, days=_n(SCENARIO_DEFAULT_DAYS)
            )
        console.print(line, highlight=False)
    if campaigns:
        console.print(
            _("campaigns: {requested} requested, {seen} in the export").format(
                requested=_n(campaigns), seen=_n(summary["campaigns_seen"])
            )
        )


def _one_of(option: str, allowed: Any, got: str) -> str:
    """``--option: must be one of a, b, got 'c'`` in the current language."""
    return _("{option}: must be one of {allowed}, got {got}").format(
        option=option, allowed=", ".join(allowed), got=repr(got)
    )


def _day(value: Any) -> str:
    """A day (``YYYY-MM-DD`` text, a date or a timestamp) as the language writes it."""
    if value is None:
        return "-"
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return i18n.date(day)


def _synth_summary(summary: dict[str, Any]) -> None:
    from rich.table import Table

    def shares(values: dict[str, float]) -> str:
        return ", ".join(f"{k} {_pct(v)}" for k, v in values.items())

    table = Table(
        title=_("Synthetic export: {path}").format(path=summary["out"]), show_header=False
    )
    table.add_column(_("what"))
    table.add_column(_("value"))
    table.add_row(_("rows"), _n(summary["rows"]))
    table.add_row(_("created"), f"{_day(summary['date_min'])} .. {_day(summary['date_max'])}")
    table.add_row(_("accept rate (decided)"), _pct(summary["accept_rate"]))
    table.add_row(_("close rate (decided)"), _pct(summary["close_rate"]))
    table.add_row(_("still open"), _pct(summary["open_share"]))
    table.add_row(_("prior awareness"), shares(summary["awareness_share"]))
    table.add_row(_("top sources"), shares(summary["top_sources"]))
    if summary["truth_out"]:
        table.add_row(_("truth"), summary["truth_out"])
    if summary["injected"]:
        injected = ", ".join(f"{k} {_n(v)}" for k, v in summary["injected"].items())
        table.add_row(_("injected bad rows"), injected)
    console.print(table)


def _pct(value: float | None) -> str:
    return "-" if value is None else i18n.percent(value, 1)


# --- reading and validating an export ---------------------------------------------------
@app.command(
    help=_("Check an export against the lead table: rows read, valid and rejected, and why.")
)
def validate(
    data: str = typer.Option(..., "--data", help=_("CRM export or lead table (CSV/Parquet).")),
    mapping: MappingOption = None,
    rejects: str | None = typer.Option(
        None, "--rejects", help=_("Write the rejected rows with their reasons (.csv/.parquet).")
    ),
    max_reject_share: MaxRejectShareOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check an export against the lead table: rows read, valid and rejected, and why."""
    from leadmodel.ingest import (
        IngestError,
        RejectShareError,
        load_mapping,
        read_leads,
        reject_limit,
        write_rejects,
    )
    from leadmodel.io import check_writable

    if rejects:
        try:
            check_writable(rejects)  # before a long read, not after
        except ValueError as exc:
            fail(f"--rejects: {exc}")
    too_many: str | None = None
    try:
        mapping_obj = load_mapping(mapping)
        limit = reject_limit(max_reject_share, mapping_obj)
        with err_console.status(_("reading {path}...").format(path=data)):
            try:
                result = read_leads(data, mapping_obj, max_reject_share=limit)
            except RejectShareError as exc:
                result, too_many = exc.result, str(exc)
        if rejects:
            write_rejects(result, rejects)
    except IngestError as exc:
        fail(str(exc))
    if as_json:
        print_json(result.summary())
    else:
        _validate_summary(result, data, rejects)
    if too_many:
        fail(too_many, code=1)


def _validate_summary(result: Any, data: str, rejects: str | None) -> None:
    from rich.table import Table

    console.print(_("Validated {path}").format(path=data), highlight=False, soft_wrap=True)
    table = Table(show_header=False)
    table.add_column(_("what"))
    table.add_column(_("rows"), justify="right")
    table.add_row(_("read"), _n(result.rows_in))
    table.add_row(_("valid"), _n(result.rows_valid))
    table.add_row(_("rejected"), f"{_n(result.rows_rejected)} ({_pct(result.reject_share)})")
    console.print(table)
    if result.reasons:
        reasons = Table(caption=_("A row with several problems counts under each."))
        reasons.add_column(_("rejected because"))
        reasons.add_column(_("rows"), justify="right")
        for reason, count in result.reasons.items():
            reasons.add_row(reason, _n(count))
        console.print(reasons)
    _dropped_lines(result.dropped, result.label_sources)
    if rejects:
        console.print(_("Rejected rows with their reasons: {path}").format(path=rejects))


def _dropped_lines(dropped: list[str], label_sources: list[str]) -> None:
    """Name the export columns the mapping never reads as features (validate, train)."""
    if dropped:
        console.print(
            _("Dropped (recorded after hand-over, never read): {columns}").format(
                columns=", ".join(dropped)
            ),
            highlight=False,
            soft_wrap=True,
        )
    if label_sources:
        console.print(
            _("Labels from (never features): {columns}").format(columns=", ".join(label_sources)),
            highlight=False,
            soft_wrap=True,
        )


# --- CRM presets (issue 14) ----------------------------------------------------------
@app.command(help=_("List the shipped mappings of CRM exports (--mapping NAME), or show one."))
def mappings(
    name: str | None = typer.Argument(
        None, help=_("A preset to show (its YAML, with why each column is read or dropped).")
    ),
    as_json: JsonOption = False,
) -> None:
    """List the shipped mappings of CRM exports (--mapping NAME), or show one."""
    from leadmodel.ingest import IngestError, load_mapping, mapping_path, preset_names

    if name is not None:
        if name not in preset_names():
            fail(
                _("mappings: no preset '{name}' (presets: {presets})").format(
                    name=name, presets=", ".join(preset_names())
                )
            )
        try:
            path, found = mapping_path(name), load_mapping(name)
        except IngestError as exc:
            fail(str(exc))
        if as_json:
            print_json(found.model_dump())
        else:
            sys.stdout.write(path.read_text(encoding="utf-8"))
        return
    rows = []
    for preset in preset_names():
        try:
            found = load_mapping(preset)
        except IngestError as exc:
            fail(str(exc))
        rows.append({"name": preset, "system": found.system, "description": found.description})
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(title=_("Presets: leadmodel validate --data FILE --mapping NAME"))
    for col in (_("name"), _("system"), _("export")):
        table.add_column(col)
    for row in rows:
        table.add_row(row["name"], row["system"] or "", row["description"] or "")
    console.print(table)
    console.print(_("Show one: leadmodel mappings NAME (a path works wherever --mapping does)"))


# --- training and the registry (issue 3) ----------------------------------------------
@app.command(
    help=_(
        "Fit the funnel model, evaluate it on the newest leads, track it in MLflow, register it."
    )
)
def train(
    data: str = typer.Option(
        ..., "--data", help=_("Canonical lead table or CRM export (CSV/Parquet).")
    ),
    mapping: MappingOption = None,
    config: str | None = typer.Option(
        None,
        "--config",
        help=_("Training config YAML (default: the shipped one, training/configs/default.yaml)."),
    ),
    experiment: str | None = typer.Option(None, "--experiment", help=_("MLflow experiment name.")),
    register: str | None = typer.Option(
        None,
        "--register",
        help=_(
            "Registered model name [default: the config's registry.name, else the "
            "mapping's model_name (its file name), else {name}]."
        ).format(name=DEFAULT_MODEL_NAME),
    ),
    as_json: JsonOption = False,
) -> None:
    """Fit the funnel model, evaluate it on the newest leads, track it in MLflow, register it."""
    from leadmodel.train import train as run_training

    with training_errors(), console.status(_("training...")) as status:
        result = run_training(
            data,
            mapping=mapping,
            config=config,
            experiment=experiment,
            register_name=register,
            progress=(None if as_json else lambda msg: status.update(f"{msg}...")),
        )
    if as_json:
        print_json(result.to_json())
        return
    _training_summary(result)


def _training_summary(result: Any) -> None:
    from rich.table import Table

    from leadmodel.tracking import tracking_uri

    data = result.data_summary
    facts = {
        "valid": _n(data.get("rows_window", data["rows_valid"])),
        "rejected": _n(data["rows_rejected"]),
        "read": _n(data["rows_in"]),
        "order_by": data["order_by"],
        "first": _order_value(data["order_min"]),
        "last": _order_value(data["order_max"]),
    }
    if data.get("window_days") is not None:
        line = _(
            "Trained on {valid} valid leads of the newest {days} days (retrain.window_days; "
            "{older} older left out, {rejected} rejected of {read}), ordered by {order_by} "
            "({first} .. {last})"
        ).format(days=_n(data["window_days"]), older=_n(data["rows_before_window"]), **facts)
    else:
        line = _(
            "Trained on {valid} valid leads ({rejected} rejected of {read}), ordered by "
            "{order_by} ({first} .. {last})"
        ).format(**facts)
    console.print(line, highlight=False, soft_wrap=True)
    _dropped_lines(data.get("dropped", []), data.get("label_sources", []))
    for warning in result.warnings:
        _label_line(_("warning"), warning, "yellow")
    for column, why in result.model.features.dropped_.items():
        _label_line(_("left out"), f"{column}: {why}", "yellow")
    table = Table(title=_("Test slice (newest leads)"))
    table.add_column(_("stage"))
    table.add_column(_("model"))
    for col in ("ROC-AUC", "PR-AUC", "Brier", "ECE", _("lift@10%"), _("wins@20%")):
        table.add_column(col, justify="right")
    for stage, ev in result.evaluations.items():
        for model_name, m in ev.metrics.items():
            table.add_row(
                _stage_name(stage),
                i18n.gettext(MODEL_NAMES.get(model_name, model_name)),
                _fmt(m.get("roc_auc")),
                _fmt(m.get("pr_auc")),
                _fmt(m.get("brier")),
                _fmt(m.get("ece")),
                _fmt(m.get("lift_top10")),
                _fmt(m.get("capture_top20")),
            )
    console.print(table)
    colour = {"ready": "green", "weak": "yellow"}.get(result.readiness.verdict, "red")
    _label_line(_("Readiness"), result.readiness.line(), f"bold {colour}")
    tiers = result.evaluations["close"].tiers
    per_tier = ", ".join(
        _("{tier}: {rate} of {leads}").format(
            tier=r["tier"], rate=_pct(r["rate"]), leads=_n(int(r["n"]))
        )
        for _row, r in tiers.iterrows()
    )
    console.print(
        _("Close rate per tier: {tiers}").format(tiers=per_tier), highlight=False, soft_wrap=True
    )
    console.print(
        _("Run {run_id}  model {uri}").format(run_id=result.run_id, uri=result.model_uri),
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        _("Registered '{name}' version {version}: {reason}").format(
            name=result.model_name, version=result.model_version, reason=result.promotion_reason
        ),
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        _("Browse: {command}").format(command=f"mlflow ui --backend-store-uri {tracking_uri()}"),
        highlight=False,
        soft_wrap=True,
    )


def _stage_name(stage: str) -> str:
    """A stage of the funnel as the training summary names it."""
    names = {"accept": i18n.pgettext("stage", "accept"), "close": i18n.pgettext("stage", "close")}
    return names.get(stage, stage)


#: How the training summary names the models it compares.
MODEL_NAMES = {
    "lightgbm": "LightGBM",
    "logistic": i18n.N_("logistic regression"),
    "rule_points": i18n.N_("rule points"),
}


def _order_value(value: Any) -> str:
    """The first or last value of the training order: a date when it is one."""
    text = str(value)
    return _day(text) if _looks_like_day(text) else text


def _looks_like_day(text: str) -> bool:
    try:
        dt.date.fromisoformat(text[:10])
    except ValueError:
        return False
    return True


@app.command(
    help=_("List registered models and their versions, with aliases and headline metrics.")
)
def models(
    name: str | None = typer.Option(
        None, "--name", help=_("Registered model name [default: every registered model].")
    ),
    as_json: bool = typer.Option(False, "--json", help=_("Print JSON.")),
) -> None:
    """List registered models and their versions, with aliases and headline metrics."""
    from rich.table import Table

    from leadmodel.tracking import (
        CHAMPION,
        alias_history,
        list_versions,
        registered_names,
        tracking_uri,
    )

    names = [name] if name else registered_names()
    found = {n: list_versions(n) for n in names}
    if as_json:
        print_json(found[name] if name else found)
        return
    if not any(found.values()):
        if name:
            line = _("No versions of '{name}' in {store}: run `leadmodel train` first.")
        else:
            line = _("No registered models in {store}: run `leadmodel train` first.")
        console.print(line.format(name=name, store=tracking_uri()), soft_wrap=True)
        return
    for model_name, rows in found.items():
        table = Table(title=f"{model_name} ({tracking_uri()})")
        for col in (
            _("version"),
            _("aliases"),
            _("close ROC-AUC"),
            _("close Brier"),
            _("accept ROC-AUC"),
            _("created"),
        ):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r["version"],
                ", ".join(r["aliases"]),
                _fmt(r["close_roc_auc"]),
                _fmt(r["close_brier"]),
                _fmt(r["accept_roc_auc"]),
                _when(r["created"]),
            )
        console.print(table)
        moves = alias_history(model_name, CHAMPION)
        if moves:
            last = moves[-1]
            console.print(
                _(
                    "champion v{version} since {when} UTC ({by}): {reason}; every move: "
                    "leadmodel aliases --name {name}"
                ).format(
                    version=last.version,
                    when=_when(last.at),
                    by=last.by,
                    reason=last.reason,
                    name=model_name,
                ),
                highlight=False,
                soft_wrap=True,
            )


def _fmt(value: float | None) -> str:
    return "-" if value is None else _n(value, 4)


#: How summaries write a moment: date and time to the second, as the language does.
WHEN_FORMAT = "medium"


def _when(value: Any) -> str:
    """An ISO timestamp (UTC text, or a datetime) as the current language writes it."""
    try:
        moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)[:19]
    return i18n.datetime(moment.replace(tzinfo=None), WHEN_FORMAT)


@app.command(
    help=_(
        "Train on the newest window of an export, register it as challenger, and move "
        "champion only when it is ready and the gate passes.\n\n"
        "Exit 0 when the run succeeded, whether or not champion moved (the summary and "
        "`--json`'s champion_moved say which, and why); 2 on bad input."
    )
)
def retrain(
    data: str = typer.Option(
        ..., "--data", help=_("The latest CRM export or lead table (CSV/Parquet).")
    ),
    mapping: MappingOption = None,
    config: str | None = typer.Option(
        None,
        "--config",
        help=_(
            "Training config YAML; its retrain.window_days sets the window "
            "(default: the shipped one, the newest 365 days)."
        ),
    ),
    name: str | None = typer.Option(
        None,
        "--name",
        help=_(
            "Registered model name [default: as train's --register: the config's "
            "registry.name, else the mapping's model_name, else {name}]."
        ).format(name=DEFAULT_MODEL_NAME),
    ),
    experiment: str | None = typer.Option(None, "--experiment", help=_("MLflow experiment name.")),
    as_json: JsonOption = False,
) -> None:
    """Train on the newest window of an export, register it as challenger, and move
    champion only when it is ready and the gate passes.

    Exit 0 when the run succeeded, whether or not champion moved (the summary and
    `--json`'s champion_moved say which, and why); 2 on bad input.
    """
    from leadmodel.retrain import retrain as run_retrain

    with training_errors(), console.status(_("retraining...")) as status:
        result = run_retrain(
            data,
            mapping=mapping,
            config=config,
            name=name,
            experiment=experiment,
            progress=(None if as_json else lambda msg: status.update(f"{msg}...")),
        )
    if as_json:
        print_json(result.to_json())
        return
    _training_summary(result.run)
    none = _("none")
    was = f"v{result.champion_before}" if result.champion_before else none
    now = f"v{result.champion_after}" if result.champion_after else none
    if result.moved:
        line = _("Champion moved: {was} -> {now}; challenger is v{challenger}")
    else:
        line = _("Champion did not move: {was} -> {now}; challenger is v{challenger}")
    console.print(
        line.format(was=was, now=now, challenger=result.run.model_version), highlight=False
    )


@app.command(help=_("Move the `champion` alias to VERSION by hand (the move is recorded)."))
def promote(
    version: str = typer.Argument(..., help=_("Model version to make champion.")),
    name: str = typer.Option(DEFAULT_MODEL_NAME, "--name", help=_("Registered model name.")),
    reason: str | None = typer.Option(
        None,
        "--reason",
        help=_("Why: recorded with the move (leadmodel aliases) [default: moved by hand]."),
    ),
) -> None:
    """Move the `champion` alias to VERSION by hand (the move is recorded)."""
    from leadmodel.tracking import ModelNotFound, use_tracking
    from leadmodel.tracking import promote as move_champion

    try:
        use_tracking()
        move = move_champion(name, version, by="promote", reason=reason or _("moved by hand"))
    except ModelNotFound as exc:
        fail(str(exc))
    if move is None:
        console.print(
            _("version {version} of '{name}' is champion already: nothing moved").format(
                version=version, name=name
            ),
            highlight=False,
        )
        return
    if move.previous:
        line = _("champion of '{name}' is now version {version} (was version {previous})")
    else:
        line = _("champion of '{name}' is now version {version}")
    console.print(line.format(name=name, version=version, previous=move.previous), highlight=False)


@app.command(
    help=_("Move `champion` back to the previous champion (again: further back), recorded.")
)
def rollback(
    name: str = typer.Option(DEFAULT_MODEL_NAME, "--name", help=_("Registered model name.")),
    reason: str | None = typer.Option(
        None, "--reason", help=_("Why: recorded with the move [default: rolled back by hand].")
    ),
    as_json: JsonOption = False,
) -> None:
    """Move `champion` back to the previous champion (again: further back), recorded."""
    from leadmodel.tracking import ModelNotFound, RegistryError, use_tracking
    from leadmodel.tracking import rollback as roll_back

    try:
        use_tracking()
        move = roll_back(name, reason=reason or _("rolled back by hand"))
    except (ModelNotFound, RegistryError) as exc:
        fail(str(exc))
    if as_json:
        print_json(move.to_dict())
        return
    console.print(
        _("champion of '{name}' rolled back: version {previous} -> {version}").format(
            name=name, previous=move.previous, version=move.version
        ),
        highlight=False,
    )


@app.command(
    help=_("The recorded alias moves of a model, newest first: when, from, to, by what, why.")
)
def aliases(
    name: str = typer.Option(DEFAULT_MODEL_NAME, "--name", help=_("Registered model name.")),
    as_json: JsonOption = False,
) -> None:
    """The recorded alias moves of a model, newest first: when, from, to, by what, why."""
    from rich.table import Table

    from leadmodel.tracking import alias_history, tracking_uri

    moves = alias_history(name)
    if as_json:
        print_json([m.to_dict() for m in reversed(moves)])
        return
    if not moves:
        console.print(
            _("No recorded alias moves of '{name}' in {store}.").format(
                name=name, store=tracking_uri()
            ),
            soft_wrap=True,
        )
        return
    table = Table(title=_("Alias moves of {name}, newest first").format(name=name))
    for col in (_("when (UTC)"), _("alias"), _("from"), _("to"), _("by"), _("why")):
        table.add_column(col)
    for m in reversed(moves):
        was = f"v{m.previous}" if m.previous else "-"
        table.add_row(_when(m.at), m.alias, was, f"v{m.version}", m.by, m.reason)
    console.print(table)


# --- explanations: what-if and the marketing report (issue 4) ---------------------------
# A module-level alias: an annotation is evaluated when Typer builds the command, after the
# help language is reset (``from __future__ import annotations``), so its help is built here.
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help=_("A change as field=value (repeat for more; field= means unknown).")
    ),
]


@app.command(help=_("Score one lead as it is and with some fields changed, and show what moved."))
def whatif(
    lead: str = typer.Option(..., "--lead", help=_("The lead as a JSON object, or @file.json.")),
    changes: SetOption = None,
    model: str | None = typer.Option(
        None, "--model", help=_("Model URI (default: the registered champion).")
    ),
    as_json: JsonOption = False,
) -> None:
    """Score one lead as it is and with some fields changed, and show what moved."""
    from leadmodel.explain import what_if
    from leadmodel.tracking import ModelNotFound, load_funnel

    record = _read_lead(lead)
    wanted = _parse_changes(changes)
    try:
        funnel, _uri = load_funnel(model)
    except ModelNotFound as exc:
        fail(str(exc))
    try:
        result = what_if(funnel, record, wanted)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
        return
    _whatif_summary(result)


def _read_lead(text: str) -> dict[str, Any]:
    """The --lead option: a JSON object, inline or from @file.json."""
    source = "--lead"
    if text.startswith("@"):
        path = text[1:]
        source = f"--lead {path}"
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            fail(
                _("{source}: cannot read the file ({problem})").format(
                    source=source, problem=exc.strerror or exc
                )
            )
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(
            _("{source}: not valid JSON ({problem} at line {line} column {column})").format(
                source=source, problem=exc.msg, line=exc.lineno, column=exc.colno
            )
        )
    if not isinstance(record, dict):
        fail(
            _('{source}: expected one JSON object {{"field": value, ...}}, got a {kind}').format(
                source=source, kind=type(record).__name__
            )
        )
    return record


def _parse_changes(changes: list[str] | None) -> dict[str, str]:
    """``--set field=value`` options as a dict (value text is typed by the library)."""
    if not changes:
        fail(_("--set: give at least one change as field=value, e.g. --set prior_awareness=high"))
    parsed: dict[str, str] = {}
    for item in changes:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            fail(_("--set: expected field=value, got {item}").format(item=repr(item)))
        parsed[name.strip()] = value
    return parsed


def _whatif_summary(result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=_("What if: lead {lead_id}").format(lead_id=result["lead_id"]))
    table.add_column("")
    table.add_column(_("before"), justify="right")
    table.add_column(_("after"), justify="right")
    old, new = result["old"], result["new"]
    table.add_row(_("score"), _n(old["score"], 1), _n(new["score"], 1))
    table.add_row(_("tier"), old["tier"], new["tier"])
    table.add_row(_("P(close)"), _pct(old["p_close"]), _pct(new["p_close"]))
    if "p_accept" in old:
        table.add_row(_("P(accept)"), _pct(old["p_accept"]), _pct(new["p_accept"]))
    console.print(table)
    for name, change in result["changes"].items():
        console.print(
            _("changed {field}: {before} -> {after}").format(
                field=name, before=change["from"], after=change["to"]
            ),
            highlight=False,
        )
    moved = sorted(result["points_change"].items(), key=lambda kv: -abs(kv[1]))
    changes = ", ".join(
        f"{name} {_signed(delta, 1)}" for name, delta in moved if round(delta, 1)
    ) or _("none")
    console.print(_("points change per field: {changes}").format(changes=changes), highlight=False)


def _signed(value: float, decimals: int) -> str:
    """A change with its sign always shown: ``+1.5`` / ``+1,5``, ``-2.0``."""
    shown = _n(abs(value), decimals)
    return ("-" if value < 0 else "+") + shown


@app.command(
    help=_("Write the one-file HTML report marketing reads: quality, tiers, channels, drivers.")
)
def report(
    data: str = typer.Option(..., "--data", help=_("Leads to report on (CSV/Parquet export).")),
    out: str = typer.Option(..., "--out", help=_("The HTML report to write (e.g. report.html).")),
    model: str | None = typer.Option(None, "--model", help=MAPPED_MODEL_HELP),
    mapping: MappingOption = None,
    capacity: float | None = typer.Option(
        None,
        "--capacity",
        help=_("Sales capacity in leads per week: sets the hand-over threshold."),
    ),
    weeks: float | None = typer.Option(
        None, "--weeks", help=_("Weeks the file covers (default: from created_at).")
    ),
    as_json: JsonOption = False,
) -> None:
    """Write the one-file HTML report marketing reads: quality, tiers, channels, drivers."""
    from leadmodel.ingest import IngestError
    from leadmodel.report import report_from_file
    from leadmodel.tracking import ModelNotFound

    try:
        with err_console.status(_("writing the report...")) as status:
            summary = report_from_file(
                data,
                out,
                model_uri=model,
                mapping=mapping,
                capacity=capacity,
                weeks=weeks,
                progress=lambda msg: status.update(f"{msg}..."),
            )
    except (IngestError, ModelNotFound, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(_("--out: cannot write the report ({problem})").format(problem=exc.strerror or exc))
    if as_json:
        print_json(summary.to_json())
        return
    intake = summary.intake
    if intake.get("rows_rejected"):
        line = _("Wrote {path}: {leads} leads ({rejected} of {read} rows rejected: {reasons})")
    else:
        line = _("Wrote {path}: {leads} leads")
    reasons = ", ".join(f"{k} {_n(v)}" for k, v in intake.get("reasons", {}).items())
    console.print(
        line.format(
            path=summary.path,
            leads=_n(summary.leads),
            rejected=_n(intake.get("rows_rejected", 0)),
            read=_n(intake.get("rows_in", 0)),
            reasons=reasons,
        ),
        highlight=False,
        soft_wrap=True,
    )
    if summary.recommendation:
        console.print(summary.recommendation["reasoning"], highlight=False, soft_wrap=True)


# --- monitoring the logged scores (issue 13) ----------------------------------------------
@app.command(
    help=_(
        "Drift and calibration of logged scores per week, with a verdict ok / warn / alarm.\n\n"
        "Exit 1 on alarm (a scheduler can act on it), 0 on ok or warn, 2 on bad input."
    )
)
def monitor(
    log: LogReadOption = None,
    outcomes: str = typer.Option(
        ..., "--outcomes", help=_("CRM export with lead_id and the outcomes as they stand now.")
    ),
    mapping: MappingOption = None,
    model: str | None = typer.Option(
        None,
        "--model",
        help=_("Model URI [default: the registered version the newest logged score names]."),
    ),
    out: str | None = typer.Option(
        None, "--out", help=_("Write the monitoring page here (e.g. monitor.html).")
    ),
    config: str | None = typer.Option(
        None, "--config", help=_("Settings YAML whose monitor: section holds the thresholds.")
    ),
    as_json: JsonOption = False,
) -> None:
    """Drift and calibration of logged scores per week, with a verdict ok / warn / alarm.

    Exit 1 on alarm (a scheduler can act on it), 0 on ok or warn, 2 on bad input.
    """
    from pathlib import Path

    from leadmodel.config import ConfigError
    from leadmodel.monitor import MonitorError
    from leadmodel.monitor import monitor as run_monitor
    from leadmodel.tracking import ModelNotFound, StoreError

    if out and (Path(out).is_dir() or not Path(out).parent.is_dir()):
        fail(_("--out: {path} is a folder, or its folder does not exist").format(path=out))
    try:
        with err_console.status(_("monitoring...")) as status:
            result = run_monitor(
                log,
                outcomes,
                mapping=mapping,
                model_uri=model,
                out=out,
                config=config,
                progress=(None if as_json else lambda msg: status.update(f"{msg}...")),
            )
    except (ConfigError, ModelNotFound, MonitorError, StoreError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(
            _("cannot write the monitoring page or run: {problem}").format(
                problem=exc.strerror or exc
            )
        )
    if as_json:
        print_json(result.to_json())
    else:
        _monitor_summary(result)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _monitor_summary(result: Any) -> None:
    colour = {"ok": "green", "warn": "yellow"}.get(result.verdict, "red")
    model = result.model
    console.print(
        ngettext(
            "Monitored {scores} logged scores of {leads} leads ({cohorts} weekly cohort) "
            "of {name} version {version}",
            "Monitored {scores} logged scores of {leads} leads ({cohorts} weekly cohorts) "
            "of {name} version {version}",
            len(result.cohorts),
        ).format(
            scores=_n(result.rows_logged),
            leads=_n(result.leads),
            cohorts=_n(len(result.cohorts)),
            name=model["name"],
            version=model["version"],
        ),
        soft_wrap=True,
        highlight=False,
    )
    for note in result.notes:
        _label_line(_("note"), note, "yellow")
    verdict = _monitor_verdict(result.verdict)
    heading = _("Verdict: {verdict}").format(verdict=verdict)
    console.print(f"[bold {colour}]{heading}[/]")
    for line in result.lines():
        console.print(f"  {line}", soft_wrap=True, highlight=False)
    if result.html:
        console.print(_("Page {path}").format(path=result.html), soft_wrap=True, highlight=False)
    if result.run_id:
        console.print(_("MLflow run {run_id}").format(run_id=result.run_id), highlight=False)


def _monitor_verdict(code: str) -> str:
    """The monitor's verdict code (``ok``/``warn``/``alarm`` in JSON) as a summary shows it."""
    words = {
        "ok": i18n.pgettext("monitor verdict", "ok"),
        "warn": i18n.pgettext("monitor verdict", "warn"),
        "alarm": i18n.pgettext("monitor verdict", "alarm"),
    }
    return words.get(code, code)


# --- the scoring service (issue 5) -------------------------------------------------------
SERVICE_TARGET = "leadmodel.serving.service:LeadScorerService"
SERVICE_EXTRA = "pip install 'leadmodel[service]'"


@app.command(
    help=_(
        "Serve the scoring API the CRM calls (BentoML): /score, /explain, /whatif, /model.\n\n"
        "Every score handed out is recorded in the prediction log; when serving an alias, the "
        "service follows it and swaps a moved model in without a restart."
    )
)
def serve(
    model: str | None = typer.Option(
        None,
        "--model",
        help=_("Model URI (default: $LEADMODEL_MODEL_URI or models:/lead-scorer@champion)."),
    ),
    port: int = typer.Option(3000, "--port", help=_("Port to listen on.")),
    host: str = typer.Option(
        "127.0.0.1", "--host", help=_("Interface to listen on (0.0.0.0 for every interface).")
    ),
    log: LogOption = None,
    workers: int = typer.Option(
        1,
        "--workers",
        help=_(
            "Worker processes, each with the model (one per core serves single leads on "
            "every core)."
        ),
    ),
) -> None:
    """Serve the scoring API the CRM calls (BentoML): /score, /explain, /whatif, /model.

    Every score handed out is recorded in the prediction log; when serving an alias, the
    service follows it and swaps a moved model in without a restart.
    """
    import os
    import shutil
    from pathlib import Path

    from leadmodel.predlog import LOG_ENV, OFF, log_dir
    from leadmodel.tracking import MODEL_ENV, default_model_uri, tracking_uri

    if not 0 < port < 2**16:
        fail(_("--port: must be 1-65535, got {port}").format(port=port))
    try:
        from leadmodel.serving.settings import (
            BENTOML_OVERRIDES_ENV,
            SettingsError,
            api_token,
            workers_overrides,
        )
    except ImportError:
        fail(_("the service needs its extra: {command}").format(command=SERVICE_EXTRA))
    try:
        api_token()  # the rule the service applies too, here before BentoML starts
        overrides = workers_overrides(workers)
    except SettingsError as exc:
        fail(str(exc))
    bentoml = shutil.which("bentoml", path=str(Path(sys.executable).parent)) or shutil.which(
        "bentoml"
    )
    if bentoml is None:
        fail(_("bentoml is not installed: {command}").format(command=SERVICE_EXTRA))
    env = dict(os.environ)
    env[MODEL_ENV] = model or default_model_uri()
    env["MLFLOW_TRACKING_URI"] = tracking_uri()
    folder = log_dir(log)  # resolved here, so a relative --log is the caller's folder
    env[LOG_ENV] = OFF if folder is None else str(folder)
    env[i18n.LANG_ENV] = i18n.current()  # `--lang da serve`: Danish unless a request says
    env.setdefault("BENTOML_DO_NOT_TRACK", "True")
    env[BENTOML_OVERRIDES_ENV] = overrides
    command = [bentoml, "serve", SERVICE_TARGET, "--host", host, "--port", str(port)]
    os.execve(bentoml, command, env)


# --- batch scoring for the CRM sync (issue 6) ---------------------------------------------
SCORE_ENGINES = ("pandas", "spark")
#: How much of a Spark error's first line an error line shows (the rest is JVM detail).
SPARK_ERROR_CHARS = 300


@app.command(
    help=_(
        "Score a file of leads for the CRM: p_accept, p_close, score, tier (and reasons).\n\n"
        "Every score is also written to the prediction log (with the scores, never without). "
        "Exit 1 when no lead is scored or too many rows are rejected (the scores and rejects "
        "of the other leads are still written), 130 on Ctrl-C (SIGINT), 143 on SIGTERM."
    )
)
def score(
    data: str = typer.Option(..., "--data", help=_("Leads to score (CSV or Parquet).")),
    out: str = typer.Option(..., "--out", help=_("Scores to write (.csv, .parquet or .pq).")),
    model: str | None = typer.Option(
        None,
        "--model",
        help=MAPPED_MODEL_HELP,
    ),
    mapping: MappingOption = None,
    reasons: int = typer.Option(
        0, "--reasons", help=_("Add the top K reasons per lead: K x (field, points) and a text.")
    ),
    rejects: str | None = typer.Option(
        None, "--rejects", help=_("Write rejected rows (original values, row, reason) here.")
    ),
    chunk_rows: int | None = typer.Option(
        None, "--chunk-rows", help=_("Rows read, scored and written at a time (default 100,000).")
    ),
    engine: str = typer.Option(
        "pandas", "--engine", help=_("pandas (this machine, in chunks) or spark.")
    ),
    master: str | None = typer.Option(
        None, "--master", help=_("Spark master with --engine spark (default local[2]).")
    ),
    max_reject_share: MaxRejectShareOption = None,
    score_format: str = typer.Option(
        "canonical",
        "--format",
        help=_(
            "canonical (the scores table), or a write-back file the CRM imports as an "
            "update of its records: hubspot, salesforce, dynamics (docs/crm.md)."
        ),
    ),
    log: LogOption = None,
    previous: str | None = typer.Option(
        None,
        "--previous",
        help=_(
            "A prediction log folder or an earlier scores file: add score_change and "
            "change_reasons against each lead's latest earlier score."
        ),
    ),
    as_json: JsonOption = False,
) -> None:
    """Score a file of leads for the CRM: p_accept, p_close, score, tier (and reasons).

    Every score is also written to the prediction log (with the scores, never without).
    Exit 1 when no lead is scored or too many rows are rejected (the scores and rejects
    of the other leads are still written), 130 on Ctrl-C (SIGINT), 143 on SIGTERM.
    """
    import os

    from leadmodel.batch import DEFAULT_CHUNK_ROWS, RejectLimitError, score_file
    from leadmodel.ingest import IngestError
    from leadmodel.tracking import ModelNotFound

    if engine not in SCORE_ENGINES:
        fail(_one_of("--engine", SCORE_ENGINES, engine))
    if reasons < 0:
        fail(_("--reasons: must be 0 or more, got {reasons}").format(reasons=reasons))
    if chunk_rows is not None and chunk_rows <= 0:
        fail(
            _("--chunk-rows: must be a positive number of rows, got {rows}").format(rows=chunk_rows)
        )
    if master is not None and engine != "spark":
        fail(_("--master: only used with --engine spark"))
    from leadmodel.crm import CANONICAL, SCORE_FORMATS

    if score_format not in SCORE_FORMATS:
        fail(_one_of("--format", SCORE_FORMATS, score_format))
    if score_format != CANONICAL and engine != "pandas":
        fail(_("--format: a write-back file is written with --engine pandas"))
    if previous is not None and engine == "spark":
        fail(_("--previous: not available with --engine spark (score with the pandas engine)"))
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # our own bar only
    problem: str | None = None
    try:
        with _score_sigterm():
            if engine == "spark":
                summary = _score_spark(
                    data, out, model, mapping, reasons, rejects, master, max_reject_share, log
                )
            else:
                enabled = err_console.is_terminal and not as_json
                with _score_progress(enabled=enabled) as progress:
                    summary = score_file(
                        data,
                        out,
                        model_uri=model,
                        mapping=mapping,
                        reasons=reasons,
                        rejects=rejects,
                        chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS,
                        progress=progress,
                        max_reject_share=max_reject_share,
                        crm_format=score_format,
                        log=log,
                        previous=previous,
                    )
    except RejectLimitError as exc:  # the run finished; the summary says what was kept
        summary, problem = exc.summary, str(exc)
    except (IngestError, ModelNotFound, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(_("cannot write the scores: {problem}").format(problem=exc))
    except KeyboardInterrupt as exc:
        name, code = ("SIGTERM", 143) if isinstance(exc, _Terminated) else ("Ctrl-C", 130)
        fail(
            _("interrupted ({signal}): nothing written to {path}").format(signal=name, path=out),
            code=code,
        )
    if as_json:
        print_json(summary.to_json())
    else:
        _score_summary(summary)
    if problem is not None:
        fail(problem, code=1)


def _score_spark(
    data: str,
    out: str,
    model: str | None,
    mapping: str | None,
    reasons: int,
    rejects: str | None,
    master: str | None,
    max_reject_share: float | None = None,
    log: str | None = None,
) -> Any:
    """Run the Spark engine; Spark and JVM failures become one line."""
    from leadmodel.ingest import IngestError
    from leadmodel.tracking import ModelNotFound

    try:
        from leadmodel.spark import SparkUnavailable, score_file_spark
    except ImportError as exc:  # pragma: no cover - the module itself has no hard deps
        fail(f"--engine spark: {exc}")
    try:
        return score_file_spark(
            data,
            out,
            model,
            mapping,
            reasons,
            rejects,
            master=master,
            max_reject_share=max_reject_share,
            log=log,
        )
    except (IngestError, ModelNotFound, ValueError, SparkUnavailable, KeyboardInterrupt):
        raise
    except Exception as exc:  # Spark's errors arrive wrapped (Py4J, analysis errors)
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        first = (lines[0] if lines else type(exc).__name__)[:SPARK_ERROR_CHARS]
        fail(_("Spark job failed: {problem}").format(problem=first))


class _Terminated(KeyboardInterrupt):
    """SIGTERM during `leadmodel score`: the KeyboardInterrupt clean-up runs, exit 143."""


class _score_sigterm:  # noqa: N801 - used like a function
    """Turn SIGTERM into :class:`_Terminated` while scoring; the old handler is restored.

    Without it a scheduler's SIGTERM ends the process at once and leaves the hidden
    temporary outputs behind. Only the main thread may set handlers: elsewhere, no-op.
    """

    def __init__(self) -> None:
        self.previous: Any = None
        self.installed = False

    def __enter__(self) -> None:
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            return

        def interrupt(signum: int, frame: Any) -> None:
            raise _Terminated()

        self.previous = signal.signal(signal.SIGTERM, interrupt)
        self.installed = True

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.installed:
            # None: a handler not set from Python; the default is the closest to restore
            previous = self.previous if self.previous is not None else signal.SIG_DFL
            signal.signal(signal.SIGTERM, previous)
            self.installed = False


class _score_progress:  # noqa: N801 - used like a function
    """A rich progress bar on stderr for :func:`leadmodel.batch.score_file`, or ``None``."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        )
        self.bar.start()
        task = self.bar.add_task(_("scoring"), total=None)

        def update(rows: int, done: int, total: int) -> None:
            label = _("{leads} leads").format(leads=_n(rows))
            self.bar.update(task, completed=done, total=total, description=label)

        return update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _score_summary(summary: Any) -> None:
    facts = {
        "scored": _n(summary.rows_scored),
        "read": _n(summary.rows_in),
        "rejected": _n(summary.rows_rejected),
        "seconds": _n(summary.seconds, 1),
        "speed": _n(summary.rows_per_second, 0),
        "version": summary.model_version,
        "uri": summary.model_uri,
    }
    if summary.model_uri:
        line = _(
            "Scored {scored} of {read} leads ({rejected} rejected) in {seconds} s "
            "({speed} rows/s) with model version {version} ({uri})"
        )
    else:
        line = _(
            "Scored {scored} of {read} leads ({rejected} rejected) in {seconds} s "
            "({speed} rows/s) with model version {version}"
        )
    console.print(line.format(**facts), soft_wrap=True, highlight=False)
    if summary.out is not None:
        console.print(_("Scores {path}").format(path=summary.out), highlight=False)
    else:
        warning = _("Scores not written: no lead was scored")
        console.print(f"[yellow]{warning}[/]")
    if summary.log is None:
        console.print(_("Prediction log off"))
    else:
        console.print(
            _("Prediction log {scores} scores in {path}").format(
                scores=_n(summary.log_rows), path=summary.log
            ),
            highlight=False,
            soft_wrap=True,
        )
    if summary.previous is not None:
        console.print(
            _("Changes against {previous}: {found} of {scored} leads had an earlier score").format(
                previous=summary.previous,
                found=_n(summary.rows_with_previous),
                scored=_n(summary.rows_scored),
            ),
            highlight=False,
            soft_wrap=True,
        )
    if summary.rejects is not None:
        console.print(_("Rejects {path}").format(path=summary.rejects), highlight=False)
    elif summary.rows_rejected:
        line = ngettext(
            "{rows} rejected row not written: add --rejects PATH to keep it with its reason",
            "{rows} rejected rows not written: add --rejects PATH to keep them with their reasons",
            summary.rows_rejected,
        )
        console.print(f"[yellow]{line.format(rows=_n(summary.rows_rejected))}[/]")
    if summary.reasons:
        reasons = ", ".join(f"{reason} {_n(n)}" for reason, n in summary.reasons.items())
        console.print(
            _("Reject reasons: {reasons}").format(reasons=reasons), highlight=False, soft_wrap=True
        )


# --- score history ------------------------------------------------------------------------
@app.command(
    help=_(
        "Each time a lead was scored, and the fields that moved its score in between.\n\n"
        "Exit 1 when the log has never scored the lead, 2 when there is no log."
    )
)
def history(
    lead_id: str = typer.Argument(..., help=_("The lead's lead_id, as in the CRM.")),
    log: LogReadOption = None,
    as_json: JsonOption = False,
) -> None:
    """Each time a lead was scored, and the fields that moved its score in between.

    Exit 1 when the log has never scored the lead, 2 when there is no log.
    """
    from leadmodel.history import HistoryError, lead_history
    from leadmodel.predlog import LogError, log_dir

    folder = log_dir(log)
    if folder is None:
        fail(_("--log: the prediction log is off; name its folder with --log DIR"))
    try:
        scorings = lead_history(folder, lead_id)
    except HistoryError as exc:
        fail(str(exc), code=1)
    except LogError as exc:
        fail(str(exc))
    if as_json:
        print_json(
            {"lead_id": lead_id, "log": str(folder), "scorings": [s.to_json() for s in scorings]}
        )
        return
    _history_summary(lead_id, folder, scorings)


def _history_summary(lead_id: str, folder: Any, scorings: list[Any]) -> None:
    from leadmodel.explain.reasons import format_points

    if len(scorings) == 1:  # "once" is a word of its own, not a plural form
        line = _("Lead {lead_id}: scored once (log {path})")
    else:
        line = ngettext(
            "Lead {lead_id}: scored {times} time (log {path})",
            "Lead {lead_id}: scored {times} times (log {path})",
            len(scorings),
        )
    console.print(
        line.format(lead_id=lead_id, times=_n(len(scorings)), path=folder),
        soft_wrap=True,
        highlight=False,
    )
    for s in scorings:
        line = _(
            "{when} UTC  {origin}  model {name} v{version}  score {score}  tier {tier}  "
            "P(close) {p_close}"
        ).format(
            when=_when(s.scored_at),
            origin=f"{s.origin:<7}",
            name=s.model_name or "-",
            version=s.model_version,
            score=f"{_n(s.score, 1):>5}",
            tier=s.tier,
            p_close=_n(s.p_close, 3),
        )
        if s.p_accept is not None:
            line += "  " + _("P(accept) {p_accept}").format(p_accept=_n(s.p_accept, 3))
        if s.score_change is not None:
            line += f"  ({format_points(s.score_change, 1)})"
        console.print(line, highlight=False, soft_wrap=True)
        for c in s.changes:
            console.print(f"    {c.text()}", highlight=False, soft_wrap=True)


_HELP_LANGUAGE.__exit__(None, None, None)  # the help texts are built; commands use --lang
