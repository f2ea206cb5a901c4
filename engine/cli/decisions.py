"""Commands that decide and explain: decide, explain, report, demo."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from engine.batch.decide import decide_file, decide_logged, explain_customers
from engine.batch.runfiles import rejects_path
from engine.batch.scaleout import decide_file_dask, parse_cluster
from engine.cli.apps import app
from engine.cli.common import AUDIENCE, HOME, LANG, reports_errors
from engine.cli.reportinputs import report_inputs
from engine.decider import load
from engine.decision import Decision
from engine.demo import run_demo
from engine.errors import InputError
from engine.explanation import FORMATS, parse_audience
from engine.frames import read_frame
from engine.language import parse_language
from engine.report.charts import MissingFontWarning
from engine.report.html import write_report
from engine.report.inputs import labels_from


def _load(home: Path | None, rules: Path | None = None, executor: str | None = None):

    return load(home, rules_dir=rules, executor=executor)


@app.command("decide")
@reports_errors
def decide_command(
    record: Path | None = typer.Argument(None, help="One customer record as a JSON file."),
    input: Path | None = typer.Option(None, "--input", help="Batch input, .csv or .parquet."),
    out: Path | None = typer.Option(None, "--out", help="Batch output, .parquet or .csv."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted batch run after its last whole chunk."),
    chunk_size: int = typer.Option(100_000, "--chunk-size", min=1,
                                   help="Rows decided per chunk in batch mode."),
    dask: str | None = typer.Option(
        None, "--dask", help="Run the batch on Dask: local, local:N or tcp://host:8786."),
    explain: list[str] | None = typer.Option(
        None, "--explain", help="Explain these customer ids of --input (repeatable)."),
    format: str = typer.Option("text", "--format", help="Explanation format: text, md, html."),
    lang: str | None = LANG,
    audience: str = AUDIENCE,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    rules: Path | None = typer.Option(None, "--rules", help="Decision-table folder."),
    executor: str | None = typer.Option(
        None, "--executor", help="Per-decision table executor: compiled (default) or durable "
        "(durable-rules, the reference); default $GRIDCREDIT_EXECUTOR."),
    db: str | None = typer.Option(
        None, "--db", help="Decision log database (SQLite path or postgresql:// URL): read "
        "each customer's payment-event outcomes from its event store, and log there: a "
        "single decision, or a batch run (one chained entry; each output row carries its "
        "decision id, digest and inputs)."),
    home: Path | None = HOME,
) -> None:
    """Decide for one record (JSON out) or for a whole file (--input, --out).

    A batch streams the input in chunks, writes decisions and a rejects file,
    and prints a summary (in --lang); --explain ID renders explanations for chosen customers
    of the input instead of deciding all of it.
    """
    if record is not None and input is not None:
        raise InputError("give either RECORD.json or --input FILE, not both")
    if record is None and input is None:
        raise InputError("give a record (gridcredit decide RECORD.json) or --input FILE --out FILE")
    engine = _load(home, rules, executor)
    words = engine.explainer.language(lang)
    if record is not None:
        data = _read_json(record)
        if db is None:
            typer.echo(engine.decide(data).to_json())
            return

        typer.echo(decide_logged(engine, data, db).to_json())
        return
    if explain:
        _explain_batch_rows(engine, input, explain, format, lang, audience)
        return
    if out is None:
        raise InputError("batch mode needs --out FILE (.parquet or .csv)")
    if dask is not None:

        summary = decide_file_dask(engine, input, out, cluster=parse_cluster(dask),
                                   overwrite=overwrite, resume=resume, chunk_size=chunk_size,
                                   progress=progress, db=db)
    else:

        summary = decide_file(engine, input, out, overwrite=overwrite, resume=resume,
                              chunk_size=chunk_size, progress=progress, db=db)
    typer.echo(summary.text(words))


def _explain_batch_rows(engine, source: Path, ids: list[str], fmt: str, lang: str | None,
                        audience: str) -> None:

    if fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}': use one of {', '.join(FORMATS)}")
    engine.explainer.language(lang)
    parse_audience(audience)
    for text in explain_customers(engine, source, ids, fmt=fmt, lang=lang,
                                  audience=audience).values():
        typer.echo(text)


@app.command("explain")
@reports_errors
def explain_command(
    decision: Path = typer.Argument(..., help="A decision JSON written by 'gridcredit decide'."),
    format: str = typer.Option("text", "--format", help="text, md or html."),
    lang: str | None = LANG,
    audience: str = AUDIENCE,
    home: Path | None = HOME,
) -> None:
    """Explain a decision in plain language: for an auditor, citing every rule and its
    file:line, or as a notice to the customer (--audience customer), in zh-CN or en."""

    if format not in FORMATS:
        raise InputError(f"unknown format '{format}': use one of {', '.join(FORMATS)}")
    if lang is not None:
        parse_language(lang)
    parse_audience(audience)
    parsed = Decision.from_json(_read_text(decision), source=str(decision))
    typer.echo(_load(home).explain(parsed, format, lang=lang, audience=audience), nl=False)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: a record must be a JSON object")
    return data


@app.command("demo")
@reports_errors
def demo_command(
    n: int = typer.Option(100_000, "--n", min=100, help="Synthetic customers to generate."),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for everything the demo writes (default: out/ under --home)."),
    home: Path | None = HOME,
) -> None:
    """Generate customers, train, decide, explain, analyse sensitivity and write the report."""

    result = run_demo(n, out, home=home, say=lambda line: typer.echo(line, err=True))
    typer.echo(result.text())


@app.command("report")
@reports_errors
def report_command(
    decisions: Path | None = typer.Option(
        None, "--decisions", help="Decisions written by 'gridcredit decide' (default: "
        "out/decisions.parquet under --home)."),
    out: Path | None = typer.Option(
        None, "--out", help="The HTML file to write (default: out/report.html under --home)."),
    labels: Path | None = typer.Option(
        None, "--labels", help="Observed outcomes: customer_id and a 0/1 default column."),
    target: str = typer.Option("default_12m", "--target", help="Outcome column in --labels."),
    rejects: Path | None = typer.Option(
        None, "--rejects", help="Rejects of the same run (default: beside --decisions)."),
    sensitivity: Path | None = typer.Option(
        None, "--sensitivity", help="sensitivity.csv from 'gridcredit sensitivity'."),
    segment: str = typer.Option("consumption_class", "--segment",
                                help="Segment for the policy-count chart."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing report."),
    customers: Path | None = typer.Option(
        None, "--customers", help="The customer file that was decided: rule hits (every rule, "
        "zero hits included) and, with --training, population stability."),
    training: Path | None = typer.Option(
        None, "--training", help="The population the models were trained on (PSI/CSI)."),
    db: str | None = typer.Option(
        None, "--db", help="Decision log of the run: run id, chain head, input and model "
        "SHA-256, table release."),
    surveys: Path | None = typer.Option(
        None, "--surveys", help="Service-quality surveys of the period (gridcredit "
        "service-quality)."),
    survey_baseline: Path | None = typer.Option(
        None, "--survey-baseline", help="Surveys of an earlier period."),
    lang: str | None = LANG,
    home: Path | None = HOME,
) -> None:
    """Write the auditor report: one self-contained HTML file with charts and versions, rule
    hits, overrides and their outcomes, disparity, calibration in words, stability,
    provenance, payment events and collections (with --db), and service quality."""
    import warnings


    engine = _load(home)
    engine.explainer.language(lang)
    decisions = decisions or engine.config.out_dir / "decisions.parquet"
    out = out or engine.config.out_dir / "report.html"
    frame = read_frame(decisions)
    bad = rejects or rejects_path(decisions)
    further = report_inputs(engine, frame, source=decisions, customers=customers,
                            training=training, db=db, surveys=surveys,
                            survey_baseline=survey_baseline)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MissingFontWarning)
        path = write_report(
            out, frame, overwrite=overwrite, segment=segment,
            labels=labels_from(frame, read_frame(labels), column=target) if labels else None,
            rejects=read_frame(bad) if bad.exists() else None,
            sensitivity=read_frame(sensitivity) if sensitivity else None,
            versions=engine.versions(),
            band_edges=[b.lo for b in engine.bands[1:]], grades=[b.grade for b in engine.bands],
            lang=lang, languages=engine.explainer.languages,
            templates_dir=engine.config.templates_dir,
            policy_titles={p.id: p.title for p in engine.catalogue}, **further,
        )
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)
    typer.echo(f"wrote {path}")
