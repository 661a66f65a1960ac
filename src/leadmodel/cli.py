"""The ``leadmodel`` command. Thin: parse options, call one library function, print a summary.

Each command prints a human summary, or one JSON object with ``--json``. Bad input ends
with one clear line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from leadmodel.config import DEFAULT_MODEL_NAME

app = typer.Typer(
    name="leadmodel",
    help="Predict lead quality: P(accept), P(close), score, tier and the reasons why.",
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
        fail(f"cannot write to the MLflow store: {exc.strerror or exc} ({exc.filename or '-'})")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one clear error line and exit (no traceback)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (for machines)."""
    sys.stdout.write(json.dumps(obj, default=str) + "\n")


@app.callback()
def _quiet_libraries() -> None:
    """Keep the libraries' chatter off a user's console; their real warnings stay visible.

    MLflow logs at INFO (table creation, "validating input example") and draws download
    progress bars on every model load; a user cannot act on either. Set the variables
    yourself to see them again.
    """
    import os

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


# --- options several commands share --------------------------------------------------------
MappingOption = Annotated[
    str | None,
    typer.Option(
        "--mapping",
        help="Column mapping YAML for the export, or a preset: hubspot, salesforce, "
        "dynamics (see `leadmodel mappings`).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
MaxRejectShareOption = Annotated[
    float | None,
    typer.Option(
        "--max-reject-share",
        min=0.0,
        max=1.0,
        help="Fail (exit 1) above this share of rejected rows "
        "[default: the mapping's max_reject_share, else 0.5].",
    ),
]
LogOption = Annotated[
    str | None,
    typer.Option(
        "--log",
        help="Prediction log folder, or 'off' [default: $LEADMODEL_LOG_DIR, else "
        "predictions/ beside the MLflow SQLite store].",
    ),
]
#: ``--log`` of the commands that read the log (monitor, history): a folder, never 'off'.
LogReadOption = Annotated[
    str | None,
    typer.Option(
        "--log",
        help="Prediction log folder [default: $LEADMODEL_LOG_DIR, else predictions/ beside "
        "the MLflow SQLite store].",
    ),
]


# --- commands are added below, one per step of the flow -------------------------------
MAPPED_MODEL_HELP = (
    "Model URI [default: $LEADMODEL_MODEL_URI, else the champion of the mapping's "
    f"model_name, else models:/{DEFAULT_MODEL_NAME}@champion]."
)


# --- the synthetic CRM export -----------------------------------------------------------
@app.command()
def synth(
    rows: int = typer.Option(10_000, "--rows", help="Number of leads to generate."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed writes the same file."),
    out: str = typer.Option(..., "--out", help="Export to write (.csv, .parquet or .pq)."),
    truth_out: str | None = typer.Option(
        None, "--truth-out", help="Also write lead_id, p_accept, p_close (the true probabilities)."
    ),
    messy: bool = typer.Option(
        False, "--messy", help="Add what real exports contain: bad spellings, gaps, bad rows."
    ),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Date of the export, YYYY-MM-DD (default 2026-06-30)."
    ),
    drift: bool = typer.Option(
        False,
        "--drift",
        help="Let the close rate climb several-fold over the older part of the history "
        "(flat over the newest 30 %); the field effects stay the same.",
    ),
    campaigns: int = typer.Option(
        0,
        "--campaigns",
        help="Add a campaign column with this many campaigns of Zipf-like sizes, each "
        "with its own effect (try 400; 0 = off).",
    ),
    export_format: str = typer.Option(
        "canonical",
        "--format",
        help="canonical, or a CRM's own export: hubspot, salesforce, dynamics (the "
        "columns and spellings its preset --mapping reads).",
    ),
    scenario: str | None = typer.Option(
        None,
        "--scenario",
        help="Production drift for `leadmodel monitor` to find, from --scenario-from on: "
        "base_rate (the close rate climbs), new_source (a channel the model never saw), "
        "tracking_break (website_visits stops being recorded).",
    ),
    scenario_from: str | None = typer.Option(
        None,
        "--scenario-from",
        help="First day of the --scenario, YYYY-MM-DD [default: 120 days before --as-of].",
    ),
    world: int | None = typer.Option(
        None,
        "--world",
        help="Draw the business units as the export of this seed has them, so a later "
        "batch of another seed comes from the same company [default: --seed's own].",
    ),
    as_json: JsonOption = False,
) -> None:
    """Write a synthetic CRM export whose true probabilities are known."""
    from leadmodel.io import check_writable, write_table
    from leadmodel.synthetic import (
        CANONICAL_FORMAT,
        CRM_FORMATS,
        DEFAULT_AS_OF,
        crm_export,
        generate,
        summarise,
    )

    if rows <= 0:
        fail(f"--rows: must be a positive number of leads, got {rows}")
    if campaigns < 0:
        fail(f"--campaigns: must be 0 (off) or a number of campaigns, got {campaigns}")
    formats = (CANONICAL_FORMAT, *CRM_FORMATS)
    if export_format not in formats:
        fail(f"--format: must be one of {', '.join(formats)}, got {export_format!r}")
    if messy and export_format != CANONICAL_FORMAT:
        fail("--format: a CRM's export is written clean; drop --messy")
    if scenario_from is not None and scenario is None:
        fail("--scenario-from: only used with --scenario")
    targets = {"--out": out} | ({"--truth-out": truth_out} if truth_out else {})
    if truth_out and truth_out == out:
        fail("--truth-out: must differ from --out")
    for option, path in targets.items():
        try:
            check_writable(path)
        except ValueError as exc:
            fail(f"{option}: {exc}")
    try:
        with err_console.status(f"generating {rows:,} leads..."):
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
        fail(f"cannot write the export: {exc}")
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
            f"drift: close rate {_pct(oldest)} (oldest quarter) -> {_pct(newest)} (newest)"
        )
    if scenario:
        since = scenario_from or "120 days before the export's date"
        console.print(f"scenario: {scenario} from {since}", highlight=False)
    if campaigns:
        console.print(
            f"campaigns: {campaigns:,} requested, {summary['campaigns_seen']:,} in the export"
        )


def _synth_summary(summary: dict[str, Any]) -> None:
    from rich.table import Table

    def shares(values: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.1%}" for k, v in values.items())

    table = Table(title=f"Synthetic export: {summary['out']}", show_header=False)
    table.add_column("what")
    table.add_column("value")
    table.add_row("rows", f"{summary['rows']:,}")
    table.add_row("created", f"{summary['date_min']} .. {summary['date_max']}")
    table.add_row("accept rate (decided)", _pct(summary["accept_rate"]))
    table.add_row("close rate (decided)", _pct(summary["close_rate"]))
    table.add_row("still open", _pct(summary["open_share"]))
    table.add_row("prior awareness", shares(summary["awareness_share"]))
    table.add_row("top sources", shares(summary["top_sources"]))
    if summary["truth_out"]:
        table.add_row("truth", summary["truth_out"])
    if summary["injected"]:
        injected = ", ".join(f"{k} {v}" for k, v in summary["injected"].items())
        table.add_row("injected bad rows", injected)
    console.print(table)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


# --- reading and validating an export ---------------------------------------------------
@app.command()
def validate(
    data: str = typer.Option(..., "--data", help="CRM export or lead table (CSV/Parquet)."),
    mapping: MappingOption = None,
    rejects: str | None = typer.Option(
        None, "--rejects", help="Write the rejected rows with their reasons (.csv/.parquet)."
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
        with err_console.status(f"reading {data}..."):
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

    console.print(f"[bold]Validated[/] {data}", highlight=False, soft_wrap=True)
    table = Table(show_header=False)
    table.add_column("what")
    table.add_column("rows", justify="right")
    table.add_row("read", f"{result.rows_in:,}")
    table.add_row("valid", f"{result.rows_valid:,}")
    table.add_row("rejected", f"{result.rows_rejected:,} ({result.reject_share:.1%})")
    console.print(table)
    if result.reasons:
        reasons = Table(caption="A row with several problems counts under each.")
        reasons.add_column("rejected because")
        reasons.add_column("rows", justify="right")
        for reason, count in result.reasons.items():
            reasons.add_row(reason, f"{count:,}")
        console.print(reasons)
    _dropped_lines(result.dropped, result.label_sources)
    if rejects:
        console.print(f"Rejected rows with their reasons: {rejects}")


def _dropped_lines(dropped: list[str], label_sources: list[str]) -> None:
    """Name the export columns the mapping never reads as features (validate, train)."""
    if dropped:
        console.print(
            "[bold]Dropped[/] (recorded after hand-over, never read): " + ", ".join(dropped),
            highlight=False,
            soft_wrap=True,
        )
    if label_sources:
        console.print(
            "[bold]Labels from[/] (never features): " + ", ".join(label_sources),
            highlight=False,
            soft_wrap=True,
        )


# --- CRM presets (issue 14) ----------------------------------------------------------
@app.command()
def mappings(
    name: str | None = typer.Argument(
        None, help="A preset to show (its YAML, with why each column is read or dropped)."
    ),
    as_json: JsonOption = False,
) -> None:
    """List the shipped mappings of CRM exports (--mapping NAME), or show one."""
    from leadmodel.ingest import IngestError, load_mapping, mapping_path, preset_names

    if name is not None:
        if name not in preset_names():
            fail(f"mappings: no preset '{name}' (presets: {', '.join(preset_names())})")
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

    table = Table(title="Presets: leadmodel validate --data FILE --mapping NAME")
    for col in ("name", "system", "export"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["name"], row["system"] or "", row["description"] or "")
    console.print(table)
    console.print("Show one: leadmodel mappings NAME (a path works wherever --mapping does)")


# --- training and the registry (issue 3) ----------------------------------------------
@app.command()
def train(
    data: str = typer.Option(
        ..., "--data", help="Canonical lead table or CRM export (CSV/Parquet)."
    ),
    mapping: MappingOption = None,
    config: str | None = typer.Option(
        None,
        "--config",
        help="Training config YAML (default: the shipped one, training/configs/default.yaml).",
    ),
    experiment: str | None = typer.Option(None, "--experiment", help="MLflow experiment name."),
    register: str | None = typer.Option(
        None,
        "--register",
        help="Registered model name [default: the config's registry.name, else the "
        f"mapping's model_name (its file name), else {DEFAULT_MODEL_NAME}].",
    ),
    as_json: JsonOption = False,
) -> None:
    """Fit the funnel model, evaluate it on the newest leads, track it in MLflow, register it."""
    from leadmodel.train import train as run_training

    with training_errors(), console.status("training...") as status:
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
    windowed = data.get("window_days") is not None
    span = f" of the newest {data['window_days']} days" if windowed else ""
    older = (
        f"retrain.window_days; {data['rows_before_window']:,} older left out, " if windowed else ""
    )
    console.print(
        f"[bold]Trained on[/] {data.get('rows_window', data['rows_valid']):,} valid leads{span} "
        f"({older}{data['rows_rejected']:,} rejected of {data['rows_in']:,}), "
        f"ordered by {data['order_by']} ({data['order_min']} .. {data['order_max']})"
    )
    _dropped_lines(data.get("dropped", []), data.get("label_sources", []))
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    for column, why in result.model.features.dropped_.items():
        console.print(f"[yellow]left out:[/] {column}: {why}")
    table = Table(title="Test slice (newest leads)")
    for col in ("stage", "model", "ROC-AUC", "PR-AUC", "Brier", "ECE", "lift@10%", "wins@20%"):
        table.add_column(col, justify="right" if col not in ("stage", "model") else "left")
    for stage, ev in result.evaluations.items():
        for model_name, m in ev.metrics.items():
            table.add_row(
                stage,
                model_name,
                _fmt(m.get("roc_auc")),
                _fmt(m.get("pr_auc")),
                _fmt(m.get("brier")),
                _fmt(m.get("ece")),
                _fmt(m.get("lift_top10")),
                _fmt(m.get("capture_top20")),
            )
    console.print(table)
    colour = {"ready": "green", "weak": "yellow"}.get(result.readiness.verdict, "red")
    console.print(f"[bold {colour}]Readiness:[/] {result.readiness.line()}")
    tiers = result.evaluations["close"].tiers
    console.print(
        "[bold]Close rate per tier:[/] "
        + ", ".join(f"{r['tier']}: {r['rate']:.1%} of {int(r['n']):,}" for _, r in tiers.iterrows())
    )
    console.print(
        f"[bold]Run[/] {result.run_id}  [bold]model[/] {result.model_uri}\n"
        f"[bold]Registered[/] '{result.model_name}' version {result.model_version}: "
        f"{result.promotion_reason}\n"
        f"Browse: mlflow ui --backend-store-uri {tracking_uri()}"
    )


@app.command()
def models(
    name: str | None = typer.Option(
        None, "--name", help="Registered model name [default: every registered model]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
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
        what = f"versions of '{name}'" if name else "registered models"
        console.print(
            f"No {what} in {tracking_uri()}: run `leadmodel train` first.", soft_wrap=True
        )
        return
    for model_name, rows in found.items():
        table = Table(title=f"{model_name} ({tracking_uri()})")
        for col in ("version", "aliases", "close ROC-AUC", "close Brier", "accept ROC-AUC"):
            table.add_column(col)
        table.add_column("created")
        for r in rows:
            table.add_row(
                r["version"],
                ", ".join(r["aliases"]),
                _fmt(r["close_roc_auc"]),
                _fmt(r["close_brier"]),
                _fmt(r["accept_roc_auc"]),
                r["created"][:19],
            )
        console.print(table)
        moves = alias_history(model_name, CHAMPION)
        if moves:
            last = moves[-1]
            console.print(
                f"champion v{last.version} since {last.at[:19]} UTC ({last.by}): {last.reason}; "
                f"every move: leadmodel aliases --name {model_name}",
                highlight=False,
                soft_wrap=True,
            )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@app.command()
def retrain(
    data: str = typer.Option(
        ..., "--data", help="The latest CRM export or lead table (CSV/Parquet)."
    ),
    mapping: MappingOption = None,
    config: str | None = typer.Option(
        None,
        "--config",
        help="Training config YAML; its retrain.window_days sets the window "
        "(default: the shipped one, the newest 365 days).",
    ),
    name: str | None = typer.Option(
        None,
        "--name",
        help="Registered model name [default: as train's --register: the config's "
        f"registry.name, else the mapping's model_name, else {DEFAULT_MODEL_NAME}].",
    ),
    experiment: str | None = typer.Option(None, "--experiment", help="MLflow experiment name."),
    as_json: JsonOption = False,
) -> None:
    """Train on the newest window of an export, register it as challenger, and move
    champion only when it is ready and the gate passes.

    Exit 0 when the run succeeded, whether or not champion moved (the summary and
    `--json`'s champion_moved say which, and why); 2 on bad input.
    """
    from leadmodel.retrain import retrain as run_retrain

    with training_errors(), console.status("retraining...") as status:
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
    was = f"v{result.champion_before}" if result.champion_before else "none"
    now = f"v{result.champion_after}" if result.champion_after else "none"
    verb = "moved" if result.moved else "did not move"
    console.print(
        f"[bold]Champion[/] {verb}: {was} -> {now}; challenger is v{result.run.model_version}",
        highlight=False,
    )


@app.command()
def promote(
    version: str = typer.Argument(..., help="Model version to make champion."),
    name: str = typer.Option(DEFAULT_MODEL_NAME, "--name", help="Registered model name."),
    reason: str = typer.Option(
        "moved by hand", "--reason", help="Why: recorded with the move (leadmodel aliases)."
    ),
) -> None:
    """Move the `champion` alias to VERSION by hand (the move is recorded)."""
    from leadmodel.tracking import ModelNotFound, use_tracking
    from leadmodel.tracking import promote as move_champion

    try:
        use_tracking()
        move = move_champion(name, version, by="promote", reason=reason)
    except ModelNotFound as exc:
        fail(str(exc))
    if move is None:
        console.print(f"version {version} of '{name}' is champion already: nothing moved")
        return
    was = f" (was version {move.previous})" if move.previous else ""
    console.print(f"champion of '{name}' is now version {version}{was}")


@app.command()
def rollback(
    name: str = typer.Option(DEFAULT_MODEL_NAME, "--name", help="Registered model name."),
    reason: str = typer.Option(
        "rolled back by hand", "--reason", help="Why: recorded with the move."
    ),
    as_json: JsonOption = False,
) -> None:
    """Move `champion` back to the previous champion (again: further back), recorded."""
    from leadmodel.tracking import ModelNotFound, RegistryError, use_tracking
    from leadmodel.tracking import rollback as roll_back

    try:
        use_tracking()
        move = roll_back(name, reason=reason)
    except (ModelNotFound, RegistryError) as exc:
        fail(str(exc))
    if as_json:
        print_json(move.to_dict())
        return
    console.print(
        f"champion of '{name}' rolled back: version {move.previous} -> {move.version}",
        highlight=False,
    )


@app.command()
def aliases(
    name: str = typer.Option(DEFAULT_MODEL_NAME, "--name", help="Registered model name."),
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
        console.print(f"No recorded alias moves of '{name}' in {tracking_uri()}.", soft_wrap=True)
        return
    table = Table(title=f"Alias moves of {name}, newest first")
    for col in ("when (UTC)", "alias", "from", "to", "by", "why"):
        table.add_column(col)
    for m in reversed(moves):
        was = f"v{m.previous}" if m.previous else "-"
        table.add_row(m.at[:19], m.alias, was, f"v{m.version}", m.by, m.reason)
    console.print(table)


# --- explanations: what-if and the marketing report (issue 4) ---------------------------
@app.command()
def whatif(
    lead: str = typer.Option(..., "--lead", help="The lead as a JSON object, or @file.json."),
    changes: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="A change as field=value (repeat for more; field= means unknown)."
        ),
    ] = None,
    model: str | None = typer.Option(
        None, "--model", help="Model URI (default: the registered champion)."
    ),
    as_json: JsonOption = False,
) -> None:
    """Score one lead as it is and with some fields changed, and show what moved."""
    from leadmodel.explain import what_if
    from leadmodel.tracking import ModelNotFound, load_funnel

    record = _read_lead(lead)
    wanted = _parse_changes(changes)
    try:
        funnel, _ = load_funnel(model)
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
            fail(f"{source}: cannot read the file ({exc.strerror or exc})")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
    if not isinstance(record, dict):
        kind = type(record).__name__
        fail(f'{source}: expected one JSON object {{"field": value, ...}}, got a {kind}')
    return record


def _parse_changes(changes: list[str] | None) -> dict[str, str]:
    """``--set field=value`` options as a dict (value text is typed by the library)."""
    if not changes:
        fail("--set: give at least one change as field=value, e.g. --set prior_awareness=high")
    parsed: dict[str, str] = {}
    for item in changes:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            fail(f"--set: expected field=value, got {item!r}")
        parsed[name.strip()] = value
    return parsed


def _whatif_summary(result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"What if: lead {result['lead_id']}")
    for col in ("", "before", "after"):
        table.add_column(col, justify="right" if col else "left")
    old, new = result["old"], result["new"]
    table.add_row("score", f"{old['score']:.1f}", f"{new['score']:.1f}")
    table.add_row("tier", old["tier"], new["tier"])
    table.add_row("P(close)", f"{old['p_close']:.1%}", f"{new['p_close']:.1%}")
    if "p_accept" in old:
        table.add_row("P(accept)", f"{old['p_accept']:.1%}", f"{new['p_accept']:.1%}")
    console.print(table)
    for name, change in result["changes"].items():
        console.print(f"changed [bold]{name}[/]: {change['from']} -> {change['to']}")
    moved = sorted(result["points_change"].items(), key=lambda kv: -abs(kv[1]))
    console.print(
        "[bold]points change per field:[/] "
        + (", ".join(f"{name} {delta:+.1f}" for name, delta in moved if round(delta, 1)) or "none")
    )


@app.command()
def report(
    data: str = typer.Option(..., "--data", help="Leads to report on (CSV/Parquet export)."),
    out: str = typer.Option(..., "--out", help="The HTML report to write (e.g. report.html)."),
    model: str | None = typer.Option(None, "--model", help=MAPPED_MODEL_HELP),
    mapping: MappingOption = None,
    capacity: float | None = typer.Option(
        None, "--capacity", help="Sales capacity in leads per week: sets the hand-over threshold."
    ),
    weeks: float | None = typer.Option(
        None, "--weeks", help="Weeks the file covers (default: from created_at)."
    ),
    as_json: JsonOption = False,
) -> None:
    """Write the one-file HTML report marketing reads: quality, tiers, channels, drivers."""
    from leadmodel.ingest import IngestError
    from leadmodel.report import report_from_file
    from leadmodel.tracking import ModelNotFound

    try:
        with err_console.status("writing the report...") as status:
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
        fail(f"--out: cannot write the report ({exc.strerror or exc})")
    if as_json:
        print_json(summary.to_json())
        return
    intake = summary.intake
    console.print(
        f"[bold]Wrote[/] {summary.path}: {summary.leads:,} leads"
        + (
            f" ({intake['rows_rejected']:,} of {intake['rows_in']:,} rows rejected: "
            + ", ".join(f"{k} {v:,}" for k, v in intake.get("reasons", {}).items())
            + ")"
            if intake.get("rows_rejected")
            else ""
        ),
        soft_wrap=True,
    )
    if summary.recommendation:
        console.print(summary.recommendation["reasoning"], highlight=False, soft_wrap=True)


# --- monitoring the logged scores (issue 13) ----------------------------------------------
@app.command()
def monitor(
    log: LogReadOption = None,
    outcomes: str = typer.Option(
        ..., "--outcomes", help="CRM export with lead_id and the outcomes as they stand now."
    ),
    mapping: MappingOption = None,
    model: str | None = typer.Option(
        None,
        "--model",
        help="Model URI [default: the registered version the newest logged score names].",
    ),
    out: str | None = typer.Option(
        None, "--out", help="Write the monitoring page here (e.g. monitor.html)."
    ),
    config: str | None = typer.Option(
        None, "--config", help="Settings YAML whose monitor: section holds the thresholds."
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
        fail(f"--out: {out} is a folder, or its folder does not exist")
    try:
        with err_console.status("monitoring...") as status:
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
        fail(f"cannot write the monitoring page or run: {exc.strerror or exc}")
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
        f"[bold]Monitored[/] {result.rows_logged:,} logged scores of {result.leads:,} leads "
        f"({len(result.cohorts)} weekly cohorts) of {model['name']} version {model['version']}",
        soft_wrap=True,
        highlight=False,
    )
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", soft_wrap=True, highlight=False)
    console.print(f"[bold {colour}]Verdict: {result.verdict}[/]")
    for line in result.lines():
        console.print(f"  {line}", soft_wrap=True, highlight=False)
    if result.html:
        console.print(f"[bold]Page[/] {result.html}", soft_wrap=True, highlight=False)
    if result.run_id:
        console.print(f"[bold]MLflow run[/] {result.run_id}", highlight=False)


# --- the scoring service (issue 5) -------------------------------------------------------
SERVICE_TARGET = "leadmodel.serving.service:LeadScorerService"


@app.command()
def serve(
    model: str | None = typer.Option(
        None,
        "--model",
        help="Model URI (default: $LEADMODEL_MODEL_URI or models:/lead-scorer@champion).",
    ),
    port: int = typer.Option(3000, "--port", help="Port to listen on."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for every interface)."
    ),
    log: LogOption = None,
    workers: int = typer.Option(
        1,
        "--workers",
        help="Worker processes, each with the model (one per core serves single leads on "
        "every core).",
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
        fail(f"--port: must be 1-65535, got {port}")
    try:
        from leadmodel.serving.settings import (
            BENTOML_OVERRIDES_ENV,
            SettingsError,
            api_token,
            workers_overrides,
        )
    except ImportError:
        fail("the service needs its extra: pip install 'leadmodel[service]'")
    try:
        api_token()  # the rule the service applies too, here before BentoML starts
        overrides = workers_overrides(workers)
    except SettingsError as exc:
        fail(str(exc))
    bentoml = shutil.which("bentoml", path=str(Path(sys.executable).parent)) or shutil.which(
        "bentoml"
    )
    if bentoml is None:
        fail("bentoml is not installed: pip install 'leadmodel[service]'")
    env = dict(os.environ)
    env[MODEL_ENV] = model or default_model_uri()
    env["MLFLOW_TRACKING_URI"] = tracking_uri()
    folder = log_dir(log)  # resolved here, so a relative --log is the caller's folder
    env[LOG_ENV] = OFF if folder is None else str(folder)
    env.setdefault("BENTOML_DO_NOT_TRACK", "True")
    env[BENTOML_OVERRIDES_ENV] = overrides
    command = [bentoml, "serve", SERVICE_TARGET, "--host", host, "--port", str(port)]
    os.execve(bentoml, command, env)


# --- batch scoring for the CRM sync (issue 6) ---------------------------------------------
SCORE_ENGINES = ("pandas", "spark")


@app.command()
def score(
    data: str = typer.Option(..., "--data", help="Leads to score (CSV or Parquet)."),
    out: str = typer.Option(..., "--out", help="Scores to write (.csv, .parquet or .pq)."),
    model: str | None = typer.Option(
        None,
        "--model",
        help=MAPPED_MODEL_HELP,
    ),
    mapping: MappingOption = None,
    reasons: int = typer.Option(
        0, "--reasons", help="Add the top K reasons per lead: K x (field, points) and a text."
    ),
    rejects: str | None = typer.Option(
        None, "--rejects", help="Write rejected rows (original values, row, reason) here."
    ),
    chunk_rows: int | None = typer.Option(
        None, "--chunk-rows", help="Rows read, scored and written at a time (default 100,000)."
    ),
    engine: str = typer.Option(
        "pandas", "--engine", help="pandas (this machine, in chunks) or spark."
    ),
    master: str | None = typer.Option(
        None, "--master", help="Spark master with --engine spark (default local[2])."
    ),
    max_reject_share: MaxRejectShareOption = None,
    score_format: str = typer.Option(
        "canonical",
        "--format",
        help="canonical (the scores table), or a write-back file the CRM imports as an "
        "update of its records: hubspot, salesforce, dynamics (docs/crm.md).",
    ),
    log: LogOption = None,
    previous: str | None = typer.Option(
        None,
        "--previous",
        help="A prediction log folder or an earlier scores file: add score_change and "
        "change_reasons against each lead's latest earlier score.",
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
        fail(f"--engine: must be one of {', '.join(SCORE_ENGINES)}, got {engine!r}")
    if reasons < 0:
        fail(f"--reasons: must be 0 or more, got {reasons}")
    if chunk_rows is not None and chunk_rows <= 0:
        fail(f"--chunk-rows: must be a positive number of rows, got {chunk_rows}")
    if master is not None and engine != "spark":
        fail("--master: only used with --engine spark")
    from leadmodel.crm import CANONICAL, SCORE_FORMATS

    if score_format not in SCORE_FORMATS:
        fail(f"--format: must be one of {', '.join(SCORE_FORMATS)}, got {score_format!r}")
    if score_format != CANONICAL and engine != "pandas":
        fail("--format: a write-back file is written with --engine pandas")
    if previous is not None and engine == "spark":
        fail("--previous: not available with --engine spark (score with the pandas engine)")
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
        fail(f"cannot write the scores: {exc}")
    except KeyboardInterrupt as exc:
        name, code = ("SIGTERM", 143) if isinstance(exc, _Terminated) else ("Ctrl-C", 130)
        fail(f"interrupted ({name}): nothing written to {out}", code=code)
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
        fail(f"Spark job failed: {(lines[0] if lines else type(exc).__name__)[:300]}")


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
        task = self.bar.add_task("scoring", total=None)

        def update(rows: int, done: int, total: int) -> None:
            self.bar.update(task, completed=done, total=total, description=f"{rows:,} leads")

        return update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _score_summary(summary: Any) -> None:
    console.print(
        f"[bold]Scored[/] {summary.rows_scored:,} of {summary.rows_in:,} leads "
        f"({summary.rows_rejected:,} rejected) in {summary.seconds:,.1f} s "
        f"({summary.rows_per_second:,.0f} rows/s) with model version {summary.model_version}"
        + (f" ({summary.model_uri})" if summary.model_uri else ""),
        soft_wrap=True,
    )
    if summary.out is not None:
        console.print(f"[bold]Scores[/] {summary.out}")
    else:
        console.print("[yellow]Scores not written:[/] no lead was scored")
    if summary.log is None:
        console.print("[bold]Prediction log[/] off")
    else:
        console.print(f"[bold]Prediction log[/] {summary.log_rows:,} scores in {summary.log}")
    if summary.previous is not None:
        console.print(
            f"[bold]Changes[/] against {summary.previous}: {summary.rows_with_previous:,} "
            f"of {summary.rows_scored:,} leads had an earlier score"
        )
    if summary.rejects is not None:
        console.print(f"[bold]Rejects[/] {summary.rejects}")
    elif summary.rows_rejected:
        console.print(
            f"[yellow]{summary.rows_rejected:,} rejected rows not written:[/] "
            "add --rejects PATH to keep them with their reasons"
        )
    if summary.reasons:
        console.print(
            "[bold]Reject reasons:[/] "
            + ", ".join(f"{reason} {n:,}" for reason, n in summary.reasons.items())
        )


# --- score history ------------------------------------------------------------------------
@app.command()
def history(
    lead_id: str = typer.Argument(..., help="The lead's lead_id, as in the CRM."),
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
        fail("--log: the prediction log is off; name its folder with --log DIR")
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
    from leadmodel.history import points_text

    times = "once" if len(scorings) == 1 else f"{len(scorings)} times"
    console.print(f"[bold]Lead {lead_id}[/]: scored {times} (log {folder})", soft_wrap=True)
    for s in scorings:
        p_accept = "" if s.p_accept is None else f"  p_accept {s.p_accept:.3f}"
        change = "" if s.score_change is None else f"  ({points_text(s.score_change, 1)})"
        console.print(
            f"{s.scored_at:%Y-%m-%d %H:%M:%S} UTC  {s.origin:<7}  "
            f"model {s.model_name or '-'} v{s.model_version}  score {s.score:5.1f}  "
            f"tier {s.tier}  p_close {s.p_close:.3f}{p_accept}{change}",
            highlight=False,
            soft_wrap=True,
        )
        for c in s.changes:
            console.print(f"    {c.text()}", highlight=False, soft_wrap=True)
