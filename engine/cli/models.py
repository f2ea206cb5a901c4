"""``gridcredit models compare`` and ``models promote``: champion and challenger, gated."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.audit import open_log
from engine.cli.apps import app
from engine.cli.common import DB, database, reports_errors
from engine.config import EngineConfig
from engine.decider import load_tables
from engine.errors import FrameError
from engine.frames import read_frame
from engine.modelops import (
    compare,
    compare_models,
    outcomes,
    promote,
    promote_file,
    record_comparison,
)
from engine.scoring import ScoreModel, load_registry

models_app = typer.Typer(help="Champion and challenger models: compare on outcomes, promote.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")

Models = Annotated[Path | None, typer.Option(
    "--models", help="Folder of registry.yaml (default: the project's models/).")]
Home = Annotated[Path | None, typer.Option(
    "--home", help="Project folder with rules/, models/, policies/ (default: $GRIDCREDIT_HOME).")]
Champion = Annotated[Path | None, typer.Option(
    "--champion", help="Artifact in use (trained with 'train --data --spec').")]
Challenger = Annotated[Path | None, typer.Option(
    "--challenger", help="Artifact that would replace it.")]


def _pair(champion: Path | None, challenger: Path | None) -> tuple[ScoreModel, ScoreModel] | None:
    if champion is None and challenger is None:
        return None
    if champion is None or challenger is None:
        raise FrameError("give both --champion FILE and --challenger FILE (or neither, for the "
                         "registry's segments)")
    return ScoreModel.load(champion), ScoreModel.load(challenger)


@models_app.command("compare")
@reports_errors
def compare_command(
    data: Annotated[Path, typer.Option(
        "--data", help="Labelled rows (CSV/Parquet): a file of the models' kind, or customer "
        "records with outcomes or joined to --labels.")],
    champion: Champion = None,
    challenger: Challenger = None,
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="Outcomes file (key and target columns) for registry --data.")] = None,
    target: Annotated[str, typer.Option("--target", help="Outcome column (1 = default).")
                      ] = "default_12m",
    key: Annotated[str, typer.Option("--id", help="Column joining --labels to --data.")
                   ] = "customer_id",
    models: Models = None,
    home: Home = None,
    db: str | None = DB,
) -> None:
    """Measure champion and challenger on the same labelled rows; log the comparison.

    With --champion and --challenger, two spec-trained artifacts on a file
    of their kind; without, each registry segment's champion and challenger
    on customer records. AUC, KS, Gini and Brier of both, DeLong's test of
    the AUC difference, and whether the promotion gate is met. Each
    comparison is appended to the audit database's chain (--db), where
    'models promote' looks for it.
    """
    pair = _pair(champion, challenger)
    if pair is not None:
        found = [compare_models(*pair, read_frame(data), data=str(data))]
    else:
        project = EngineConfig.at(home, models_dir=models)
        registry = load_registry(project.models_dir)
        frame = read_frame(data)
        y = outcomes(frame, read_frame(labels) if labels is not None else None, target=target,
                     key=key, where=str(labels or data))
        if y is None:
            raise FrameError(f"{data} has no outcome column '{target}'; give --labels FILE or "
                             "--target COL", columns=[target])
        found = compare(registry, frame.drop(columns=[target], errors="ignore"), y,
                        load_tables(project).scale, data=str(data))
    with open_log(database(db, home)) as log:
        for c in found:
            row = record_comparison(log.engine, c)
            typer.echo(c.markdown() + f"\n\nlogged as comparison #{row.seq} in {log.url}\n")


@models_app.command("promote")
@reports_errors
def promote_command(
    segment: Annotated[str | None, typer.Argument(
        help="Registry segment whose challenger wins (or use --champion/--challenger).")
    ] = None,
    champion: Champion = None,
    challenger: Challenger = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Promote without a logged comparison that met the gate "
        "(needs --reason; logged).")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why --force (logged).")] = "",
    note: Annotated[str, typer.Option("--note", help="Why, for the model cards.")] = "",
    models: Models = None,
    home: Home = None,
    db: str | None = DB,
) -> None:
    """Replace a champion by its challenger, if a logged comparison met the gate.

    The gate: the DeLong 95 % interval of AUC(challenger) - AUC(champion)
    lies above 0 and the challenger's Brier score is no worse, in a
    comparison of these two artifacts logged by 'models compare'. --force
    --reason TEXT passes it, and the reason is logged. A registry segment's
    champion and challenger swap in registry.yaml; both cards get a line.
    """
    pair = _pair(champion, challenger)
    with open_log(database(db, home)) as log:
        if pair is not None:
            row = promote_file(*pair, log.engine, force=force, reason=reason, note=note)
            typer.echo(f"{pair[1].model_id} replaces {pair[0].model_id} (log entry #{row.seq} "
                       f"in {log.url}); the entry is in both model cards")
            return
        if segment is None:
            raise FrameError("name a registry SEGMENT, or give --champion and --challenger")
        project = EngineConfig.at(home, models_dir=models)
        now, then = promote(project.models_dir, segment, log.engine, note=note, force=force,
                            reason=reason)
    typer.echo(f"segment '{segment}': champion is now {now}, challenger {then}; the entry is "
               "in both model cards and the log")

