"""Commands for the release cycle and the auditor's time machine.

``rules publish``, ``rules history`` and ``rules diff`` govern table sets;
``audit replay`` and ``audit export`` read the past back from the log.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from engine.audit.export import export_range
from engine.audit.log import open_log
from engine.cli.apps import rules_app
from engine.cli.audit import audit_app
from engine.cli.common import DB, HOME, database, reports_errors
from engine.decider import load
from engine.errors import InputError
from engine.governance.releases import history, publish, publisher_name, resolve_set
from engine.governance.replay import replay, replay_sample
from engine.rulecheck import spread_warnings
from engine.service.settings import Settings
from engine.tables.diff import diff_sets


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} {value!r}: give a date as YYYY-MM-DD") from None


@rules_app.command("publish")
@reports_errors
def publish_command(
    message: str = typer.Option(..., "--message", "-m", help="What this release changes, and why."),
    approved_by: str | None = typer.Option(None, "--approved-by",
                                           help="Who reviewed and approved the change."),
    publisher: str | None = typer.Option(None, "--publisher",
                                         help="Who publishes (default: $GRIDCREDIT_USER, "
                                              "else the login name)."),
    four_eyes: bool = typer.Option(False, "--four-eyes",
                                   help="Require an approver other than the publisher (also "
                                        "on when the service settings say four_eyes: true)."),
    db: str | None = DB,
    home: Path | None = HOME,
) -> None:
    """Check, archive and record the project's table set as a new release.

    Refused, with nothing changed, when any check fails, when a table changed
    without a new version, or when four-eyes review is on and the approver is
    missing or is the publisher. Exit 1 when refused.
    """

    engine = load(home)
    four_eyes = four_eyes or Settings.load().four_eyes
    with open_log(database(db, home)) as log:
        release, diff = publish(engine, log.engine, message=message,
                                publisher=publisher or publisher_name(),
                                approver=approved_by, four_eyes=four_eyes)
    typer.echo(f"published {release.line()}")
    typer.echo(diff.text(), nl=False)
    for line in spread_warnings(engine.tables):
        typer.echo(f"warning: {line}: differentiated service must not widen the service gap",
                   err=True)


@rules_app.command("history")
@reports_errors
def history_command(db: str | None = DB, home: Path | None = HOME) -> None:
    """List the releases, oldest first: number, time, version, hash, publisher, approver."""

    with open_log(database(db, home), create=False) as log:
        releases = history(log.engine)
    if not releases:
        typer.echo("no releases: publish one with gridcredit rules publish --message ...")
        return
    for r in releases:
        typer.echo(r.line())


@rules_app.command("diff")
@reports_errors
def diff_command(
    a: str = typer.Argument(..., metavar="A", help="Before: a release number, an archived hash "
                            "(or its first 8+ characters), a folder or a git revision."),
    b: str = typer.Argument("rules", metavar="B", help="After: the same kinds (default: the "
                            "project's rules/)."),
    db: str | None = DB,
    home: Path | None = HOME,
) -> None:
    """Compare two table sets in plain terms: rules added, removed and changed, by condition,
    output, policy and parameter."""

    engine = load(home)
    before, label_a = resolve_set(a, engine, database(db, home))
    after, label_b = resolve_set(b, engine, database(db, home))
    typer.echo(diff_sets(before, after, before_label=label_a, after_label=label_b).text(),
               nl=False)


@audit_app.command("replay")
@reports_errors
def replay_command(
    decision_id: str | None = typer.Argument(None, metavar="[ID]",
                                             help="The decision to replay."),
    db: str | None = DB,
    with_: str | None = typer.Option(None, "--with", help="Decide the same inputs with this "
                                     "table set instead (folder or git revision): a "
                                     "counterfactual."),
    since: str | None = typer.Option(None, "--since", help="Replay a random sample of the "
                                     "decisions logged since this date (YYYY-MM-DD)."),
    sample: int = typer.Option(20, "--sample", min=1, help="How many to replay with --since."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --since sample."),
    home: Path | None = HOME,
) -> None:
    """Re-decide a logged decision with its archived tables and model.

    Prints "reproduced" and the digest (exit 0), or each difference (exit 1).
    """

    if (decision_id is None) == (since is None):
        raise InputError("give a decision ID, or --since DATE [--sample N], not both")
    with open_log(database(db, home), create=False) as log:
        if since is not None:
            report = replay_sample(log, _date(since, "--since"), sample, seed=seed)
            typer.echo(report.report(), nl=False)
            raise typer.Exit(0 if report.ok else 1)
        other = label = None
        if with_ is not None:

            other, label = resolve_set(with_, load(home), None)
        result = replay(log, decision_id, with_tables=other, label=label)
    typer.echo(result.report(), nl=False)
    if with_ is None and not result.reproduced:
        raise typer.Exit(1)


@audit_app.command("export")
@reports_errors
def export_command(
    start: str = typer.Option(..., "--from", help="First day (YYYY-MM-DD), by log time."),
    end: str = typer.Option(..., "--to", help="Last day (YYYY-MM-DD), inclusive."),
    format: str = typer.Option("jsonl", "--format", help="jsonl or parquet."),
    out: Path = typer.Option(..., "--out", help="The export file to write."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
    db: str | None = DB,
    home: Path | None = HOME,
) -> None:
    """Write the decisions of a date range with the hashes that chain them, for regulators.

    Check the file anywhere with: gridcredit audit verify --export FILE.
    """

    if out.exists() and not overwrite:
        raise InputError(f"{out}: exists; use --overwrite to replace it")
    with open_log(database(db, home), create=False) as log:
        report = export_range(log, _date(start, "--from"), _date(end, "--to"), out, format)
    typer.echo(f"{report.reason} (seq {report.first_seq}-{report.last_seq}) to {out}")
