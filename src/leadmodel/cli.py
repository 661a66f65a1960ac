"""The ``leadmodel`` command. Thin: parse options, call one library function, print a summary.

Each command prints a human summary, or one JSON object with ``--json``. Bad input ends
with one clear line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
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
    str | None, typer.Option("--mapping", help="Column mapping YAML for the export.")
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
    as_json: JsonOption = False,
) -> None:
    """Write a synthetic CRM export whose true probabilities are known."""
    from leadmodel.io import check_writable, write_table
    from leadmodel.synthetic import DEFAULT_AS_OF, generate, summarise

    if rows <= 0:
        fail(f"--rows: must be a positive number of leads, got {rows}")
    if campaigns < 0:
        fail(f"--campaigns: must be 0 (off) or a number of campaigns, got {campaigns}")
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
            )
            write_table(data.export, out)
            if truth_out:
                write_table(data.truth, truth_out)
    except ValueError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write the export: {exc}")
    summary = summarise(data.export) | {"out": out, "truth_out": truth_out, "messy": messy}
    summary |= {"drift": drift, "campaigns": campaigns, "injected": data.injected}
    if as_json:
        print_json(summary)
        return
    _synth_summary(summary)
    if drift:
        oldest, newest = summary["close_rate_oldest_quarter"], summary["close_rate_newest_quarter"]
        console.print(
            f"drift: close rate {_pct(oldest)} (oldest quarter) -> {_pct(newest)} (newest)"
        )
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
    if rejects:
        console.print(f"Rejected rows with their reasons: {rejects}")


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
    from leadmodel.config import ConfigError
    from leadmodel.ingest import IngestError
    from leadmodel.leakage import LeakageError
    from leadmodel.tracking import StoreError
    from leadmodel.train import train as run_training

    try:
        with console.status("training...") as status:
            result = run_training(
                data,
                mapping=mapping,
                config=config,
                experiment=experiment,
                register_name=register,
                progress=(None if as_json else lambda msg: status.update(f"{msg}...")),
            )
    except (ConfigError, IngestError, LeakageError, StoreError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:  # e.g. an artifact folder that became read-only during the run
        fail(f"cannot write to the MLflow store: {exc.strerror or exc} ({exc.filename or '-'})")
    if as_json:
        print_json(result.to_json())
        return
    _training_summary(result)


def _training_summary(result: Any) -> None:
    from rich.table import Table

    from leadmodel.tracking import tracking_uri

    data = result.data_summary
    console.print(
        f"[bold]Trained on[/] {data['rows_valid']:,} valid leads "
        f"({data['rows_rejected']:,} rejected of {data['rows_in']:,}), "
        f"ordered by {data['order_by']} ({data['order_min']} .. {data['order_max']})"
    )
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

    from leadmodel.tracking import list_versions, registered_names, tracking_uri

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


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


@app.command()
def promote(
    version: str = typer.Argument(..., help="Model version to make champion."),
    name: str = typer.Option(DEFAULT_MODEL_NAME, "--name", help="Registered model name."),
) -> None:
    """Move the `champion` alias to VERSION by hand."""
    from leadmodel.tracking import ModelNotFound, use_tracking
    from leadmodel.tracking import promote as move_champion

    try:
        use_tracking()
        move_champion(name, version)
    except ModelNotFound as exc:
        fail(str(exc))
    console.print(f"champion of '{name}' is now version {version}")


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
) -> None:
    """Serve the scoring API the CRM calls (BentoML): /score, /explain, /whatif, /model."""
    import os
    import shutil
    from pathlib import Path

    from leadmodel.tracking import MODEL_ENV, default_model_uri, tracking_uri

    if not 0 < port < 2**16:
        fail(f"--port: must be 1-65535, got {port}")
    try:
        from leadmodel.serving.settings import TokenError, api_token
    except ImportError:
        fail("the service needs its extra: pip install 'leadmodel[service]'")
    try:
        api_token()  # the rule the service applies too, here before BentoML starts
    except TokenError as exc:
        fail(str(exc))
    bentoml = shutil.which("bentoml", path=str(Path(sys.executable).parent)) or shutil.which(
        "bentoml"
    )
    if bentoml is None:
        fail("bentoml is not installed: pip install 'leadmodel[service]'")
    env = dict(os.environ)
    env[MODEL_ENV] = model or default_model_uri()
    env["MLFLOW_TRACKING_URI"] = tracking_uri()
    env.setdefault("BENTOML_DO_NOT_TRACK", "True")
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
    log: LogOption = None,
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
