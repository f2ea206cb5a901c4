"""``gridcredit monitor``: drift of a current population against a baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.apps import app
from engine.cli.common import HOME, reports_errors
from engine.config import EngineConfig
from engine.decider import load_tables
from engine.frames import read_frame
from engine.modelops import monitor_model, monitor_registry
from engine.report.monitoring import write_monitor_report
from engine.scoring import ScoreModel, load_registry


@app.command("monitor")
@reports_errors
def monitor_command(
    baseline: Annotated[Path, typer.Option(
        "--baseline", help="Baseline population (CSV/Parquet), e.g. the training file.")],
    current: Annotated[Path, typer.Option(
        "--current", help="Current population (CSV/Parquet) to compare with the baseline.")],
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="Outcomes of the current population (key and target columns): "
        "adds AUC/KS drift and calibration by grade.")] = None,
    target: Annotated[str, typer.Option("--target", help="Outcome column (1 = default).")
                      ] = "default_12m",
    bad: Annotated[str | None, typer.Option(
        "--bad", help="Outcome value meaning default, when the outcome is not 0/1.")] = None,
    key: Annotated[str, typer.Option("--id", help="Column joining --labels to --current.")
                   ] = "customer_id",
    models: Annotated[Path | None, typer.Option(
        "--models", help="Folder of registry.yaml (default: the project's models/).")] = None,
    model: Annotated[Path | None, typer.Option(
        "--model", help="A model trained with 'train --data --spec': monitor files of its "
        "kind instead of customer records.")] = None,
    rules: Annotated[Path | None, typer.Option(
        "--rules", help="Decision-table folder whose grade table draws the PD bands "
        "(default: the project's rules/).")] = None,
    home: Path | None = HOME,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the HTML drift report (with charts) to this file.")] = None,
) -> None:
    """Score PSI, grade shift and per-indicator CSI; with --labels, AUC/KS and calibration.

    Thresholds: 0.10 watch, 0.25 breach (PSI, CSI, relative fall of Gini and
    KS); a grade whose observed default rate leaves its binomial interval is
    a breach. Exits 1 when any threshold is breached, for schedulers.
    """
    project = EngineConfig.at(home, rules_dir=rules, models_dir=models)
    bands = load_tables(project).scale
    frames = (read_frame(baseline), read_frame(current))
    outcome_file = read_frame(labels) if labels is not None else None
    names = (str(baseline), str(labels or current))
    if model is not None:
        result = monitor_model(ScoreModel.load(model), bands, *frames, labels=outcome_file,
                               target=target if target != "default_12m" else None, key=key,
                               bad=bad, names=names,
                               scale_from=f"the grade table of {rules}" if rules is not None
                               else "the home's grade table")
        for note in result.notes:
            typer.echo(note, err=True)
    else:
        result = monitor_registry(load_registry(project.models_dir), bands, *frames,
                                  labels=outcome_file, target=target, key=key, bad=bad,
                                  names=names)
    for d in result.drifts:
        typer.echo(f"{d.model_id}: {d.status}; {d.current_rows:,} current vs "
                   f"{d.baseline_rows:,} baseline customers; score PSI {d.score_psi:.3f}, "
                   f"grade PSI {d.grade_psi:.3f}, largest CSI "
                   f"{d.csi['csi'].max():.3f} ({d.csi.loc[d.csi['csi'].idxmax(), 'indicator']})")
        for lv, text in d.findings:
            typer.echo(f"  {lv}: {text}")
        typer.echo(f"  {d.performance_note}")
    for which, n in result.rejected.items():
        if n:
            typer.echo(f"{which}: {n:,} rows left out by {result.rejected_by} (not monitored)")
    if out is not None:
        path = write_monitor_report(result, out, project.templates_dir)
        typer.echo(f"wrote {path}")
    if result.breached:
        typer.echo("a threshold is breached", err=True)
        raise typer.Exit(1)
