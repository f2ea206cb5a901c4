"""Commands for collections: the day's work list, and one customer's collections."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from engine.audit.log import open_log
from engine.audit.recorder import Recorder
from engine.cli.apps import app
from engine.cli.common import DB, HOME, LANG, database, reports_errors
from engine.collections.documents import Documents
from engine.collections.profiles import LoggedProfiles, profiles_from_frame
from engine.collections.statement import statement_of
from engine.collections.steps import StepCollector
from engine.collections.tables import load_collection_tables
from engine.collections.text import statement_text
from engine.collections.worklist import due_list, events_frame
from engine.config import EngineConfig
from engine.decider import load
from engine.errors import InputError
from engine.events.replay import read_events
from engine.events.store import open_store
from engine.frames import read_frame, write_frame
from engine.language import load_languages
from engine.policies import load_catalogue

collections_app = typer.Typer(
    help="Collections over time: the day's work list and a customer's cases, steps, "
         "protections and statement of account.", no_args_is_help=True)
app.add_typer(collections_app, name="collections")

AS_OF = typer.Option(..., "--as-of", help="The date of the work (YYYY-MM-DD): steps, "
                     "penalties and protections are as of the end of that day.")


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--as-of {text!r} is not a date (YYYY-MM-DD)") from None


def _tables(project: EngineConfig):

    return load_collection_tables(project.rules_dir, load_catalogue(project.catalogue))


@collections_app.command("show")
@reports_errors
def show_command(
    customer_id: str = typer.Argument(..., metavar="CUSTOMER", help="Customer id."),
    as_of: str = AS_OF,
    db: str | None = DB,
    as_json: bool = typer.Option(False, "--json", help="Print the stable JSON "
                                 "(docs/collections.md)."),
    lang: str | None = LANG,
    home: Path | None = HOME,
) -> None:
    """A customer's cases (penalty, steps and their status), protections, deposit, statement
    of account and the documents of the steps due; exit 2 if the customer was never decided."""

    project = EngineConfig.at(home)
    day = _day(as_of)
    url = database(db, home)
    languages = load_languages(project.locale_dir, default=project.language,
                               currency=project.currency)
    found = statement_of(customer_id, day, open_store(url, create=False),
                         open_log(url, create=False), _tables(project), Documents(languages))
    if as_json:
        typer.echo(json.dumps(found.to_json(), indent=2, ensure_ascii=False))
        return
    typer.echo(statement_text(found, languages.get(lang)))


@collections_app.command("due")
@reports_errors
def due_command(
    as_of: str = AS_OF,
    db: str | None = DB,
    events: Path | None = typer.Option(
        None, "--events", help="Read the events from this .csv/.parquet file (as events "
        "replay reads them) instead of the database."),
    decisions: Path | None = typer.Option(
        None, "--decisions", help="Take each customer's class, grade and segments from this "
        "batch output (decide --input) instead of the decision log."),
    out: Path | None = typer.Option(None, "--out", help="Write the work list here (.csv or "
                                    ".parquet); default: out/collections-DATE.csv."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    home: Path | None = HOME,
) -> None:
    """The day's work list: every step due (or blocked by a protection) on the date.

    Read from the database, each step listed is also logged as a decision in the
    decision chain, once: running it again for the same day logs nothing new."""
    from tqdm import tqdm


    project = EngineConfig.at(home)
    day = _day(as_of)
    url = database(db, home)
    frame = read_events(events) if events else events_frame(open_store(url, create=False))
    log = None if decisions else open_log(url, create=False)
    profiles = profiles_from_frame(read_frame(decisions)) if log is None \
        else LoggedProfiles(log, day)
    tables = _tables(project)
    collector = None
    if log is not None and events is None:  # replayable: chained events, logged decisions
        engine = load(home)
        languages = load_languages(project.locale_dir, default=project.language,
                                   currency=project.currency)
        collector = StepCollector(tables, Documents(languages), engine.tables.content_hash)
    with tqdm(unit="customer", disable=not progress, leave=False) as bar:
        work = due_list(frame, profiles, day, tables, progress=bar.update, keep=collector)
    target = out or project.out_dir / f"collections-{day.isoformat()}.csv"
    write_frame(work.rows, target)
    typer.echo(f"{len(work.rows):,} steps due on {day.isoformat()} for {work.customers:,} "
               f"customers ({work.examined:,} with open bills, protections, agreements or "
               f"deposits) written to {target}")
    if collector is not None and log is not None:
        new = Recorder(log).steps(engine, collector.payloads)
        typer.echo(f"{new:,} step decisions logged in {log.url} "
                   f"({len(collector.payloads) - new:,} were logged already)")
    if work.undecided:
        shown = ", ".join(work.undecided[:5])
        typer.echo(f"{len(work.undecided):,} customers with open bills have no decision on or "
                   f"before {day.isoformat()} ({shown}{', ...' if len(work.undecided) > 5 else ''})"
                   ": decide them first", err=True)
