"""Commands for decision tables: rules check, rules schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from engine.batch.impactrun import run_impact
from engine.cli.apps import rules_app
from engine.cli.common import HOME, reports_errors
from engine.config import EngineConfig
from engine.decider import load
from engine.errors import InputError
from engine.events.store import open_store
from engine.explanation import Explainer
from engine.language import load_languages, parse_language
from engine.policies import load_catalogue
from engine.rulecheck import check_rules
from engine.studio.workbook import export_workbook
from engine.studio.workbookread import import_workbook
from engine.tables import load_table_set, table_schema


@rules_app.command("check")
@reports_errors
def check_command(
    rules_dir: Annotated[Path | None, typer.Argument(
        help="Folder of table files (*.yaml); default: the project's rules/.")] = None,
    catalogue: Annotated[Path | None, typer.Option(
        "--catalogue", help="Policy catalogue the tables refer to; default: the project's "
        "policies/catalogue.yaml.")] = None,
    examples: Annotated[bool, typer.Option(
        "--examples/--no-examples", help="Also run every table's examples.")] = True,
    home: Path | None = HOME,
) -> None:
    """Check everything that decides or explains: tables, event rules, catalogue, templates.

    Looks for gaps (a missing grade band first), overlaps, dead rules,
    conflicting policies and undeclared param clashes; every problem of
    rules/events.yaml; catalogue policies no rule grants; templates that do not
    compile, name a param their policy lacks, or fail to render. Exit code 0
    when clean, 1 with findings (printed as file:line: rule: message), 2 when a
    file cannot be loaded.
    """

    project = EngineConfig.at(home, rules_dir=rules_dir)
    known = load_catalogue(catalogue or project.catalogue)
    table_set = load_table_set(project.rules_dir, known)
    policies = catalogue.parent if catalogue else project.catalogue.parent
    explainer = Explainer(policies / "templates", known, load_languages(policies / "locale"))
    typer.echo(f"table set {table_set.version} sha256:{table_set.content_hash}")
    for t in table_set.tables:
        typer.echo(f"  {t.name:<20} {t.version:<12} {t.hit_policy:<10} "
                   f"{len(t.rules):>3} rules {len(t.examples):>2} examples  {t.file}")
    for tag, file in explainer.languages.files.items():
        typer.echo(f"  translations {tag:<9} {file}")
    result = check_rules(table_set, explainer, project.event_rules, examples=examples)
    for line in result.spread:
        typer.echo(f"  {line}")
    for f in result.findings:
        typer.echo(str(f))
    if result.findings:
        typer.echo(f"{len(result.findings)} finding(s): fix the rules above and run the check "
                   "again", err=True)
        raise typer.Exit(2 if result.unloadable else 1)
    n_examples = sum(len(t.examples) for t in table_set.tables) if examples else 0
    typer.echo(f"ok: {len(table_set.tables)} tables, "
               f"{sum(len(t.rules) for t in table_set.tables)} rules, the event rules, "
               f"{len(known)} policies and their templates checked, "
               f"{n_examples} examples passed, no findings")


@rules_app.command("schema")
@reports_errors
def schema_command(
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the schema here instead of printing it.")] = None,
    catalogue: Annotated[Path | None, typer.Option(
        "--catalogue", help="Catalogue whose policy ids the schema lists; default: the "
        "project's policies/catalogue.yaml.")] = None,
    home: Path | None = HOME,
) -> None:
    """Print the JSON Schema of the table format (for editors' YAML validation)."""

    catalogue = catalogue or EngineConfig.at(home).catalogue
    ids = [p.id for p in load_catalogue(catalogue)] if catalogue.exists() else None
    text = json.dumps(table_schema(ids), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        typer.echo(f"wrote {out}")


@rules_app.command("impact")
@reports_errors
def impact_command(
    baseline: Annotated[str, typer.Option(
        "--baseline", help="Tables now in force: a rules folder, a project folder (rules/ and "
                           "policies/), or a git revision (HEAD~1, v1.2:rules) of the "
                           "project's own repository.")],
    population: Annotated[Path, typer.Option(
        "--population", help="Customers to decide with both sets (.csv or .parquet).")],
    candidate: Annotated[Path | None, typer.Option(
        "--candidate", help="The edited tables: a rules folder, or a project folder with its "
                            "own policies/ (default: the project's rules/).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the report here (.html or .md) instead of printing markdown.")
    ] = None,
    affected: Annotated[Path | None, typer.Option(
        "--affected", help="CSV of affected customers (default: the report's name plus "
                           ".affected.csv, e.g. impact.html.affected.csv).")] = None,
    tariff: Annotated[float | None, typer.Option(
        "--tariff", min=0.0, help="Currency per kWh, to estimate expected default loss.")
    ] = None,
    allow_findings: Annotated[bool, typer.Option(
        "--allow-findings", help="Compare a candidate that rules check finds fault with; the "
                                 "report then opens with its findings.")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing report or affected list.")] = False,
    home: Path | None = HOME,
    db: Annotated[str | None, typer.Option(
        "--db", help="Decision log database whose event store gives each customer's "
        "payment-event outcomes, as the service reads them.")] = None,
    lang: Annotated[str | None, typer.Option(
        "--lang", help="Language of the report: zh-CN or en (default: the project's).")
    ] = None,
) -> None:
    """Decide a population with two table sets and report whom the change moves.

    Prints (or writes) the changed rules with their diff, catalogue and template
    changes, grade transitions, policies gained and lost, policy params before
    and after, per rule the customers matched and those whose outcome changed,
    and the collection workload; lists affected customers. A candidate with
    rules check findings is refused (exit 1) unless --allow-findings is given.
    """

    if out is not None and out.suffix.lower() not in (".html", ".md"):
        raise InputError(f"--out {out}: write the report as .html or .md")
    if affected is None and out is not None:
        affected = out.with_name(f"{out.name}.affected.csv")
    for path in (out, affected):
        if path is not None and path.exists() and not overwrite:
            raise InputError(f"{path}: exists; use --overwrite to replace it")
    engine = load(home)
    words = engine.explainer.language(lang)
    store = None
    if db is not None:

        store = open_store(db, create=False)
    impact = run_impact(engine, baseline, candidate or engine.config.rules_dir, population,
                        allow_findings=allow_findings, tariff=tariff, store=store)
    if impact.findings:
        typer.echo(impact.findings_note(words), err=True)
    for finding in impact.service.findings if impact.service else ():
        typer.echo(words.gettext("finding: %(text)s", text=finding.text(words)), err=True)
    if affected is not None:
        affected.parent.mkdir(parents=True, exist_ok=True)
        impact.affected.to_csv(affected, index=False)
    if out is None:
        typer.echo(impact.markdown(words), nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(impact.html(words, templates_dir=engine.config.templates_dir)
                       if out.suffix.lower() == ".html" else impact.markdown(words),
                       encoding="utf-8")
        typer.echo(impact.headline(words))
        typer.echo(words.gettext("wrote %(path)s", path=str(out)))
    if affected is not None:
        typer.echo(words.ngettext("wrote %(path)s (%(num)s customer)",
                                  "wrote %(path)s (%(num)s customers)", len(impact.affected),
                                  path=str(affected), num=words.count(len(impact.affected))))


@rules_app.command("export")
@reports_errors
def export_command(
    xlsx: Annotated[Path, typer.Option(
        "--xlsx", help="Workbook to write: one sheet per table, in the workbench notation.")],
    rules_dir: Annotated[Path | None, typer.Option(
        "--rules", help="Folder of table files; default: the project's rules/.")] = None,
    home: Path | None = HOME,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing workbook.")] = False,
    lang: Annotated[str, typer.Option(
        "--lang", help="Language of the sheets' headers, notes and notation: en or zh-CN "
        "(import reads either).")] = "en",
) -> None:
    """Write the table set as an Excel workbook (a sheet per table, plus a notation sheet).

    Importing the workbook unchanged gives back the same table-set content hash.
    """

    project = EngineConfig.at(home, rules_dir=rules_dir)
    if xlsx.suffix.lower() != ".xlsx":
        raise InputError(f"--xlsx {xlsx}: name the workbook *.xlsx")
    if xlsx.exists() and not overwrite:
        raise InputError(f"{xlsx}: exists; use --overwrite to replace it")
    table_set = load_table_set(project.rules_dir, load_catalogue(project.catalogue))
    xlsx.parent.mkdir(parents=True, exist_ok=True)
    export_workbook(table_set, xlsx, project.rules_dir, lang=parse_language(lang))
    typer.echo(f"wrote {xlsx}: {len(table_set.tables)} tables, table set "
               f"{table_set.version} sha256:{table_set.content_hash}")


@rules_app.command("import")
@reports_errors
def import_command(
    workbook: Annotated[Path, typer.Argument(help="Workbook written by rules export --xlsx.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the table files to.")],
    home: Path | None = HOME,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace table files that exist in --out.")] = False,
) -> None:
    """Turn a workbook back into YAML table files, or refuse it naming each sheet!cell.

    Every cell is checked by the same loader as rules check, and every rule and
    example of the sheets must reach the files; nothing is written unless the
    whole workbook loads (exit 2 otherwise). Files the workbook does not change
    are left as they are, and a changed file changes only where its meaning did.
    Blank rows inside a table are skipped and named on stderr.
    """

    project = EngineConfig.at(home)
    if not workbook.is_file():
        raise InputError(f"{workbook}: file not found")
    catalogue = load_catalogue(project.catalogue)
    imported = import_workbook(workbook, out, catalogue, overwrite=overwrite)
    for warning in imported.warnings:
        typer.echo(f"warning: {warning}", err=True)
    table_set = load_table_set(out, catalogue)
    rules = sum(n for n, _ in imported.counts.values())
    examples = sum(n for _, n in imported.counts.values())
    kept = f" ({len(imported.unchanged)} unchanged, left as they were)" if imported.unchanged \
        else ""
    typer.echo(f"wrote {len(imported.changed)} file(s) to {out}{kept}: "
               f"{len(table_set.tables)} tables, table set {table_set.version} "
               f"sha256:{table_set.content_hash}; the workbook's {rules} rules and {examples} "
               "examples are all in the files")
