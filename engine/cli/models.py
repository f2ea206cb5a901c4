"""``gridcredit models compare`` and ``models promote``: champion and challenger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.apps import app
from engine.cli.common import reports_errors
from engine.config import EngineConfig
from engine.decider import load_tables
from engine.errors import FrameError
from engine.frames import read_frame
from engine.modelops import compare, outcomes, promote
from engine.scoring import load_registry

models_app = typer.Typer(help="Champion and challenger models of the registry.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")

Models = Annotated[Path | None, typer.Option(
    "--models", help="Folder of registry.yaml (default: the project's models/).")]
Home = Annotated[Path | None, typer.Option(
    "--home", help="Project folder with rules/, models/, policies/ (default: $GRIDCREDIT_HOME).")]


@models_app.command("compare")
@reports_errors
def compare_command(
    data: Annotated[Path, typer.Option(
        "--data", help="Customer records (CSV/Parquet), with outcomes or joined to --labels.")],
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="Outcomes file (key and target columns) for --data.")] = None,
    target: Annotated[str, typer.Option("--target", help="Outcome column (1 = default).")
                      ] = "default_12m",
    key: Annotated[str, typer.Option("--id", help="Column joining --labels to --data.")
                   ] = "customer_id",
    models: Models = None,
    home: Home = None,
) -> None:
    """Measure each segment's champion and challenger on the same labelled customers.

    AUC, KS, Gini, Brier and how many grades are calibrated (binomial test),
    for both models and their difference.
    """
    project = EngineConfig.at(home, models_dir=models)
    registry = load_registry(project.models_dir)
    frame = read_frame(data)
    y = outcomes(frame, read_frame(labels) if labels is not None else None, target=target,
                 key=key, where=str(labels or data))
    if y is None:
        raise FrameError(f"{data} has no outcome column '{target}'; give --labels FILE or "
                         "--target COL", columns=[target])
    for c in compare(registry, frame.drop(columns=[target], errors="ignore"), y,
                     load_tables(project).scale):
        typer.echo(c.markdown() + "\n")


@models_app.command("promote")
@reports_errors
def promote_command(
    segment: Annotated[str, typer.Argument(help="Registry segment whose challenger wins.")],
    note: Annotated[str, typer.Option("--note", help="Why, for the model cards.")] = "",
    models: Models = None,
    home: Home = None,
) -> None:
    """Swap a segment's champion and challenger in registry.yaml; note it in both cards."""
    project = EngineConfig.at(home, models_dir=models)
    champion, challenger = promote(project.models_dir, segment, note=note)
    typer.echo(f"segment '{segment}': champion is now {champion}, challenger {challenger}; "
               "the entry is in both model cards")
