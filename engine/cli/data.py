"""Commands that make or inspect customer data."""

from __future__ import annotations

from pathlib import Path

import typer

from engine import synth
from engine.cli.apps import app
from engine.cli.common import reports_errors
from engine.collections.synthetic import generate_events
from engine.frames import write_frame


@app.command("synth")
@reports_errors
def synth_command(
    n: int = typer.Option(100_000, "--n", min=0, help="Number of customers."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same file."),
    out: Path = typer.Option(..., "--out", help="Output file, .csv or .parquet."),
    events: Path | None = typer.Option(
        None, "--events", help="Also write 12 months of their bills and payments (.csv or "
        ".parquet), as events replay and collections due read them."),
) -> None:
    """Generate a synthetic customer base with a 12-month default label."""
    frame = synth.generate(n, seed)
    write_frame(frame, out)
    rate = frame["default_12m"].mean() if n else 0.0
    typer.echo(f"wrote {n} customers to {out} (default rate {rate:.2%}, seed {seed})")
    if events is not None:

        history = generate_events(frame, end=synth.DEFAULT_AS_OF, seed=seed)
        write_frame(history, events)
        typer.echo(f"wrote {len(history):,} events (12 months of bills and payments) to {events}")
