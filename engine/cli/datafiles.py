"""Commands for a credit team's own labelled files: ``spec init`` and ``score``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.apps import app
from engine.cli.common import reports_errors
from engine.config import EngineConfig
from engine.decider import load_tables
from engine.errors import FrameError
from engine.frames import read_frame, write_frame
from engine.modelops import init_spec
from engine.scoring import ScoreModel, score_file
from engine.scoring.points import points_of

spec_app = typer.Typer(help="Indicator specs for labelled files of your own.",
                       no_args_is_help=True)
app.add_typer(spec_app, name="spec")


@spec_app.command("init")
@reports_errors
def spec_init_command(
    data: Annotated[Path, typer.Option("--data", help="Labelled CSV/Parquet file.")],
    target: Annotated[str, typer.Option("--target", help="Target (label) column.")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the spec here (default: print it).")] = None,
) -> None:
    """Write a starter spec (types, transforms, directions auto) that evaluate accepts.

    Numeric columns become identity indicators and text columns categories;
    identifiers, constant columns and dates are left out with a comment.
    """
    text, left_out = init_spec(read_frame(data), target, source=str(data))
    if out is None:
        typer.echo(text, nl=False)
        return
    if out.exists():
        raise FrameError("exists; choose another --out or remove it", file=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out} ({text.count('- name:')} indicators"
               + (f"; left out {len(left_out)} columns" if left_out else "") + ")")


@app.command("score")
@reports_errors
def score_command(
    model: Annotated[Path, typer.Option(
        "--model", help="Artifact trained with 'gridcredit train --data --spec'.")],
    data: Annotated[Path, typer.Option("--data", help="CSV/Parquet rows to score.")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write scored rows here (CSV/Parquet; default: print a summary).")
    ] = None,
    rules: Annotated[Path | None, typer.Option(
        "--rules", help="Decision-table folder whose grade table draws the PD bands.")
    ] = None,
    home: Annotated[Path | None, typer.Option(
        "--home", help="Project folder (default: $GRIDCREDIT_HOME).")] = None,
) -> None:
    """Score the rows of a file with a model trained on that kind of file.

    Adds z, pd, grade and the top reasons to each row the model's population
    filter admits; rows outside it go to a rejects file beside --out. Grades
    use the master scale stored in the model; a --rules or home grade table
    that draws another scale is named in a warning. The spec's conditions on
    the label are not applied (outcomes come later). Outside the
    customer-record contract: no policies, no decision log.
    """
    given = load_tables(EngineConfig.at(home, rules_dir=rules)).scale
    result = score_file(ScoreModel.load(model), read_frame(data), given,
                        scale_from=f"the grade table of {rules}" if rules is not None
                        else "the home's grade table")
    for note in result.notes:
        typer.echo(note, err=True)
    scored, rejects = result.scored, result.rejects
    typer.echo(f"{len(scored) + len(rejects):,} rows in: {len(scored):,} scored, "
               f"{len(rejects):,} rejected; mean PD {scored['pd'].mean():.4f}")
    counts = scored["grade"].value_counts()
    typer.echo("grades: " + ", ".join(f"{b.grade} {int(counts.get(b.grade, 0)):,}"
                                      for b in result.bands))
    if "points" in scored.columns and len(scored):
        scale = points_of(ScoreModel.load(model).doc)
        typer.echo(f"points: median {int(scored['points'].median()):,}, from "
                   f"{int(scored['points'].min()):,} to {int(scored['points'].max()):,} "
                   f"({scale.describe() if scale else ''})")
    if out is not None:
        write_frame(scored, out)
        typer.echo(f"wrote {out}")
        if len(rejects):
            path = out.with_name(out.stem + ".rejects.csv")
            rejects.to_csv(path, index=False)
            typer.echo(f"wrote {path}")
