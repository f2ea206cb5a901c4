"""Commands for the scorer: train, evaluate, sensitivity."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine import synth
from engine.cli.apps import app
from engine.cli.common import HOME, reports_errors
from engine.config import EngineConfig
from engine.decider import load_tables
from engine.errors import FrameError
from engine.frames import read_frame
from engine.modelops import (
    TrainingConfig,
    analyse_portfolio,
    cross_validation_report,
    cv_summary,
    evaluate_registry,
    markdown_table,
    oot_file,
    oot_registry,
    oot_report,
    train_file,
    train_registry,
    write_model,
    write_sensitivity,
)
from engine.scale import Band
from engine.scoring import load_registry, read_spec
from engine.scoring.points import parse_points

Data = Annotated[Path | None, typer.Option(
    "--data", help="Labelled CSV/Parquet file (default: a synthetic population).")]
Target = Annotated[str, typer.Option("--target", help="Target column (1 = default).")]
Spec = Annotated[Path | None, typer.Option(
    "--spec", help="Indicator spec (YAML) for a file that is not a customer-record file.")]
Bad = Annotated[str | None, typer.Option(
    "--bad", help="Target value meaning default, when the target is not 0/1.")]
Models = Annotated[Path | None, typer.Option(
    "--models", help="Folder of registry.yaml (default: the project's models/).")]
Rules = Annotated[Path | None, typer.Option(
    "--rules", help="Decision-table folder whose grade table draws the PD bands (default: "
    "the project's rules/).")]
Folds = Annotated[int, typer.Option("--folds", min=2, help="Cross-validation folds.")]
Trend = Annotated[str, typer.Option(
    "--trend", help="How direction: auto is binned: auto (optbinning's trend, the default), "
    "auto_asc_desc (monotone only) or choose (chosen per indicator on the training rows by "
    "held-out log-loss; see docs/scorer.md).")]
CvSeed = Annotated[int, typer.Option("--seed", help="Cross-validation seed.")]


def _config(home: Path | None, rules: Path | None, models: Path | None) -> EngineConfig:
    return EngineConfig.at(home, rules_dir=rules, models_dir=models)


def _scale(config: EngineConfig) -> tuple[Band, ...]:
    """The master scale of the project's loaded table set."""
    return load_tables(config).scale


@app.command("train")
@reports_errors
def train_command(
    data: Data = None,
    target: Target = "default_12m",
    spec: Spec = None,
    bad: Bad = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Output folder (default: the project's models/, or out/models under "
        "--home with --spec).")] = None,
    models: Models = None,
    rules: Rules = None,
    home: Path | None = HOME,
    folds: Folds = 5,
    seed: CvSeed = 42,
    prior: Annotated[float | None, typer.Option(
        "--prior", help="Portfolio default rate to calibrate PDs to (default: the training "
        "rate).")] = None,
    governance: Annotated[bool, typer.Option(
        "--governance/--no-governance",
        help="Refuse models whose default rate per PD band fails the publication check.")
    ] = True,
    trend: Trend = "auto",
    model_id: Annotated[str | None, typer.Option(
        "--model-id", help="Id of the model (with --spec; default: the file's name and a "
        "hash of the artifact, distinct per artifact).")] = None,
    points: Annotated[str | None, typer.Option(
        "--points", help="Scorecard points BASE,ODDS,PDO (with --spec), e.g. 600,50,20: 600 "
        "points at good:bad odds 50:1, 20 points to double the odds.")] = None,
) -> None:
    """Train the scorer; write JSON artifacts and model cards.

    With no --data, generate the registry's synthetic population and train
    every registry model into models/ (reproducible). With --data --spec,
    train one model on any labelled file.
    """
    project = _config(home, rules, models)
    bands = _scale(project)
    models_dir = project.models_dir
    if spec is not None:
        if data is None:
            raise FrameError("--spec needs --data FILE: the labelled file to train on")
        scale = parse_points(points)
        config = TrainingConfig(folds=folds, seed=seed, prior=prior, governance=governance,
                                model_id=model_id, trend=trend,
                                points=scale.record() if scale else None)
        name = data.stem
        result = train_file(read_frame(data), target=target, spec=spec, bands=bands, bad=bad,
                            segment=name, config=config, source=str(data))
        path = write_model(result, out or project.out_dir / "models", f"{name}.json")
        typer.echo(cv_summary(result.artifact))
        typer.echo(f"wrote {path} and {path.with_suffix('.md')}")
        return
    if points is not None:
        raise FrameError("--points scales one spec-trained model: use it with --data FILE "
                         "--spec SPEC")
    if model_id is not None:
        raise FrameError("--model-id names one model: use it with --data FILE --spec SPEC "
                         "(a registry model's id is registry.yaml's version and a hash of its "
                         "artifact, distinct per artifact)")
    reg = read_spec(models_dir)
    if data is None:
        frame = synth.generate(reg.population_n, reg.population_seed)
        source = f"engine.synth.generate(n={reg.population_n}, seed={reg.population_seed})"
    else:
        frame, source = read_frame(data), str(data)
    config = TrainingConfig(folds=folds, seed=seed, prior=prior, governance=governance,
                            version=reg.version)
    results = train_registry(frame, models_dir=models_dir, out_dir=out, target=target,
                             bands=bands, config=config, source=source)
    for seg in reg.segments:
        doc = results[seg.segment].artifact
        typer.echo(cv_summary(doc))
        typer.echo(f"  wrote {(out or models_dir) / seg.artifact} (+ model card)")


@app.command("evaluate")
@reports_errors
def evaluate_command(
    data: Data = None,
    target: Target = "default_12m",
    spec: Spec = None,
    bad: Bad = None,
    models: Models = None,
    rules: Rules = None,
    home: Path | None = HOME,
    n: Annotated[int, typer.Option(
        "--n", min=100, help="Synthetic customers (without --data).")] = 50_000,
    population_seed: Annotated[int, typer.Option(
        "--population-seed", help="Seed of the synthetic population.")] = 7,
    folds: Folds = 5,
    seed: CvSeed = 42,
    trend: Trend = "auto",
    report: Annotated[Path | None, typer.Option(
        "--report", help="Also write the report to this markdown file.")] = None,
    oot_date: Annotated[str | None, typer.Option(
        "--oot-date", help="Out-of-time check: train on rows dated before DATE (YYYY-MM-DD), "
        "measure on the rows from DATE on.")] = None,
    date_column: Annotated[str, typer.Option(
        "--date-column", help="Column holding each row's date, for --oot-date.")] = "as_of",
) -> None:
    """Measure a scorer: AUC, KS, Gini, Brier, default rate per PD band and decile.

    Without --spec, score labelled customer records with the registry models
    (hold-out check). With --spec, cross-validate the scorer on any labelled
    file (for example real credit data) without publishing anything. With
    --oot-date, train before the date and measure after it instead.
    """
    project = _config(home, rules, models)
    bands = _scale(project)
    if oot_date is not None:
        if data is None:
            raise FrameError("--oot-date needs --data FILE with a date column")
        frame = read_frame(data)
        config = TrainingConfig(folds=folds, seed=seed, governance=False, trend=trend)
        runs = ([oot_file(frame, target=target, spec=spec, bands=bands, date=oot_date,
                          column=date_column, bad=bad, config=config, segment=data.stem)]
                if spec is not None else
                oot_registry(frame, models_dir=project.models_dir, target=target,
                             bands=bands, date=oot_date, column=date_column, config=config))
        text = oot_report(runs)
    elif spec is not None:
        if data is None:
            raise FrameError("--spec needs --data FILE: the labelled file to evaluate on")
        config = TrainingConfig(folds=folds, seed=seed, governance=False, trend=trend)
        result = train_file(read_frame(data), target=target, spec=spec, bands=bands, bad=bad,
                            segment=data.stem, config=config, source=str(data))
        text = cross_validation_report(
            result, title=f"{data.name}: {folds}-fold cross-validation (seed {seed})")
    else:
        registry = load_registry(project.models_dir)
        if data is None:
            frame = synth.generate(n, population_seed)
            what = f"synthetic population n={n}, seed={population_seed}"
        else:
            frame, what = read_frame(data), str(data)
        text = evaluate_registry(registry, frame, target=target, bands=bands, bad=bad,
                                    what=what).markdown()
    text += "\n"
    typer.echo(text, nl=False)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {report}")


@app.command("sensitivity")
@reports_errors
def sensitivity_command(
    data: Annotated[Path | None, typer.Option(
        "--data", help="Customer records, CSV/Parquet (default: a synthetic population).")
    ] = None,
    n: Annotated[int, typer.Option(
        "--n", min=10, help="Synthetic customers (without --data).")] = 20_000,
    population_seed: Annotated[int, typer.Option(
        "--population-seed", help="Seed of the synthetic population.")] = 11,
    seed: Annotated[int, typer.Option(
        "--seed", help="Seed choosing who moves for yes/no and ordered indicators.")] = 0,
    models: Models = None,
    rules: Rules = None,
    home: Path | None = HOME,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Output folder (default: out/sensitivity under --home).")] = None,
) -> None:
    """Adverse change per risk-factor group (1 sd, 10/20/30 %): PD and grades after.

    Writes sensitivity.csv, sensitivity.md, sensitivity.png and the
    per-customer detail sensitivity-customers.parquet into --out.
    """
    project = _config(home, rules, models)
    registry = load_registry(project.models_dir)
    frame = synth.generate(n, population_seed) if data is None else read_frame(data)
    result = analyse_portfolio(frame, registry, _scale(project), seed=seed)
    out = out or project.out_dir / "sensitivity"
    write_sensitivity(result, out)
    typer.echo(markdown_table(result.summary()[["group", "shock", "mean_pd_before",
                                                   "mean_pd_after", "change_pp",
                                                   "downgraded"]]))
    typer.echo(f"wrote {out}/sensitivity.csv, sensitivity.md, sensitivity.png, "
               "sensitivity-customers.parquet")
