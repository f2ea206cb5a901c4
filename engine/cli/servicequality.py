"""The service-quality commands: synthetic surveys, and the evaluation of gaps, sensitivity,
change and policy links from surveys."""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from engine.cli.apps import app
from engine.cli.common import HOME, LANG, reports_errors
from engine.config import EngineConfig
from engine.frames import read_frame, write_frame
from engine.language import load_languages
from engine.policies import load_catalogue
from engine.report.charts import MissingFontWarning
from engine.report.servicequality import write_service_quality
from engine.servicequality.evaluation import evaluate, service_policies
from engine.servicequality.surveys import read_surveys, survey_rejects_path
from engine.synth import generate_surveys


@app.command("service-quality")
@reports_errors
def service_quality_command(
    surveys: Path = typer.Option(..., "--surveys", help="Surveys of the period (.csv or "
                                 ".parquet): customer_id, period, channel, expected_* and "
                                 "perceived_* per SERVQUAL dimension, satisfaction."),
    out: Path = typer.Option(..., "--out", help="The HTML report to write."),
    decisions: Path | None = typer.Option(
        None, "--decisions", help="Decisions written by 'gridcredit decide': each surveyed "
        "customer's consumption class, grade and policies."),
    baseline: Path | None = typer.Option(
        None, "--baseline", help="Surveys of an earlier period, for the change and the "
        "difference in differences."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing report."),
    lang: str | None = LANG,
    home: Path | None = HOME,
) -> None:
    """Evaluate service quality (paper 3.2): the gap per SERVQUAL dimension per segment and
    grade, sensitivity per segment, change against a baseline, and holders against
    non-holders of each service policy. Rejected survey rows go to a rejects file beside
    the report."""
    config = EngineConfig.at(home)
    current = read_surveys(surveys, rejects_to=survey_rejects_path(surveys, out))
    before = (read_surveys(baseline, rejects_to=survey_rejects_path(baseline, out))
              if baseline is not None else None)
    catalogue = load_catalogue(config.catalogue)
    result = evaluate(current.surveys, read_frame(decisions) if decisions else None,
                      baseline=before.surveys if before else None,
                      policies=service_policies(catalogue))
    reading = {f.source: f.reading(survey_rejects_path(f.source, out))
               for f in (current, before) if f is not None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MissingFontWarning)
        path = write_service_quality(
            out, result, overwrite=overwrite, templates_dir=config.templates_dir, lang=lang,
            languages=load_languages(config.templates_dir.parent / "locale"), reading=reading)
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)
    for f in (current, before):
        if f is not None:
            typer.echo(f.text())
    typer.echo(f"wrote {path}")


@app.command("synth-surveys")
@reports_errors
def synth_surveys_command(
    decisions: Path = typer.Option(..., "--decisions", help="Decisions written by 'gridcredit "
                                   "decide': who is surveyed, their class and policies."),
    period: str = typer.Option(..., "--period", help="Survey period, e.g. 2026-Q3."),
    out: Path = typer.Option(..., "--out", help="Output file, .csv or .parquet."),
    wave: int = typer.Option(0, "--wave", min=0, help="Survey wave: the same --seed and "
                             "another wave asks the same customers again."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the customers' tastes."),
    before_policies: bool = typer.Option(
        False, "--before-policies", help="Survey as if no policy were held yet (a baseline "
        "taken before the differentiated service started)."),
) -> None:
    """Generate synthetic service-quality surveys for decided customers: large consumers
    weigh responsiveness, average consumers empathy, and held policies lift the perceived
    scores of their dimensions."""
    frame = read_frame(decisions)
    if before_policies:
        frame = frame.assign(policies="")
    surveys = generate_surveys(frame, period, seed=seed, wave=wave)
    write_frame(surveys, out)
    typer.echo(f"wrote {len(surveys):,} surveys for period {period} to {out} "
               f"(seed {seed}, wave {wave})")
