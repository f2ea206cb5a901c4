"""Commands for payment events: replay a file of events, show a customer's events and outcomes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from engine.cli.apps import app
from engine.cli.common import DB, HOME, database, reports_errors
from engine.collections.protections import protection_kinds
from engine.config import EngineConfig
from engine.errors import InputError
from engine.events.model import to_micros
from engine.events.processor import EventProcessor
from engine.events.replay import read_events, replay
from engine.events.store import open_store
from engine.frames import write_frame

events_app = typer.Typer(
    help="Payment events: replay event files and read a customer's events and outcomes.",
    no_args_is_help=True,
)
app.add_typer(events_app, name="events")

RULES = typer.Option(None, "--rules",
                     help="Event rule file; default: the project's rules/events.yaml.")


def _micros(text: str | None, option: str) -> int | None:
    if text is None:
        return None

    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text!r} is not an ISO date or time "
                         "(for example 2026-10-31T12:00:00Z)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return to_micros(value.astimezone(dt.UTC))


@events_app.command("replay")
@reports_errors
def replay_command(
    file: Path = typer.Argument(..., metavar="FILE", help="Events as .csv or .parquet."),
    db: str | None = DB,
    rules: Path | None = RULES,
    now: str | None = typer.Option(
        None, "--now",
        help="Clock for the far-in-the-future check (ISO time); default: the latest event "
             "time in the file, so a history file replays whole."),
    rejects: Path | None = typer.Option(
        None, "--rejects", help="Write refused rows with their reasons to this .csv file."),
    batch: int = typer.Option(500, "--batch", min=1, max=100_000,
                              help="Events per database transaction."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    synchronous: str = typer.Option(
        "NORMAL", "--synchronous",
        help="SQLite sync level: NORMAL (a power cut may lose the last batches; replay again) "
             "or FULL (every batch synced, as the service does)."),
    home: Path | None = HOME,
) -> None:
    """Replay an event file in event-time order; refused rows are reported, never stored."""
    import pandas as pd
    from tqdm import tqdm


    clock = _micros(now, "--now")
    rules = rules or EngineConfig.at(home).event_rules
    kinds = protection_kinds(Path(rules).with_name("protections.yaml"))
    processor = EventProcessor.open(database(db, home), rules, synchronous=synchronous.upper(),
                                    protection_kinds=kinds)
    total = len(read_events(file))
    with tqdm(total=total, unit="ev", disable=not progress, leave=False) as bar:
        summary = replay(file, processor, now_us=clock, batch=batch, progress=bar.update)
    for line in summary.lines():
        typer.echo(line)
    for reject in summary.rejects[:5]:
        typer.echo(f"  rejected row {reject['row']} ({reject['event_id']}): {reject['reason']}")
    if summary.rejected > 5:
        typer.echo(f"  ... {summary.rejected - 5:,} more refused rows"
                   + ("" if rejects else " (write them all with --rejects FILE.csv)"))
    if rejects is not None:

        columns = ["row", "event_id", "customer_id", "field", "reason_code", "reason"]
        write_frame(pd.DataFrame(summary.rejects, columns=columns), rejects)
        typer.echo(f"refused rows written to {rejects}")


@events_app.command("show")
@reports_errors
def show_command(
    customer_id: str = typer.Argument(..., metavar="CUSTOMER", help="Customer id."),
    db: str | None = DB,
    as_of: str | None = typer.Option(None, "--as-of",
                                     help="Outcomes in force on this date (YYYY-MM-DD)."),
    home: Path | None = HOME,
) -> None:
    """Print a customer's stored events and its outcomes (all, or those in force on a date)."""

    day = None
    if as_of:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise InputError(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)") from None
    store = open_store(database(db, home), create=False)
    found = store.customer_events(customer_id, as_of=day)
    if not found.events and not found.outcomes:
        raise InputError(f"customer {customer_id!r} has no stored events or outcomes in "
                              f"{store.url}: check the id, or replay its events first")
    typer.echo(json.dumps(found.to_json(), indent=2))
