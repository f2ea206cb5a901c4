"""Commands for the scorer: train, evaluate, sensitivity."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from engine import synth
from engine.cli import app
from engine.cli.common import reports_errors
from engine.config import default_home
from engine.errors import FrameError
from engine.frames import read_frame, write_frame
from engine.scale import master_scale
from engine.scoring import evaluation as ev

Data = Annotated[Path | None, typer.Option(
    "--data", help="Labelled CSV/Parquet file (default: a synthetic population).")]
Target = Annotated[str, typer.Option("--target", help="Target column (1 = default).")]
Spec = Annotated[Path | None, typer.Option(
    "--spec", help="Indicator spec (YAML) for a file that is not a customer-record file.")]
Bad = Annotated[str | None, typer.Option(
    "--bad", help="Target value meaning default, when the target is not 0/1.")]
Models = Annotated[Path | None, typer.Option(
    "--models", help="Folder of registry.yaml (default: the project's models/).")]
Scale = Annotated[Path | None, typer.Option(
    "--scale", help="Grade table holding the PD bands (default: rules/grades.yaml).")]
Folds = Annotated[int, typer.Option("--folds", min=2, help="Cross-validation folds.")]
CvSeed = Annotated[int, typer.Option("--seed", help="Cross-validation seed.")]


def _models_dir(models: Path | None) -> Path:
    return models if models is not None else default_home() / "models"


def _scale(scale: Path | None):
    return master_scale(scale if scale is not None else default_home() / "rules" / "grades.yaml")


def _summary(model_id: str, doc: dict) -> str:
    cv = doc["cv_metrics"]
    return (f"{model_id}: {doc['training']['rows']:,} rows, "
            f"{doc['training']['defaults'] / doc['training']['rows']:.2%} defaults; "
            f"CV AUC {cv['auc_mean']:.4f} ± {cv['auc_std']:.4f}, KS {cv['ks_mean']:.4f}, "
            f"Gini {cv['gini_mean']:.4f}, Brier {cv['brier_oof']:.4f}")


@app.command("train")
@reports_errors
def train_command(
    data: Data = None,
    target: Target = "default_12m",
    spec: Spec = None,
    bad: Bad = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Output folder (default: models/, or out/models with --spec).")] = None,
    models: Models = None,
    scale: Scale = None,
    folds: Folds = 5,
    seed: CvSeed = 42,
    prior: Annotated[float | None, typer.Option(
        "--prior", help="Portfolio default rate to calibrate PDs to (default: the training "
        "rate).")] = None,
    governance: Annotated[bool, typer.Option(
        "--governance/--no-governance",
        help="Refuse models whose default rate per PD band fails the publication check.")
    ] = True,
) -> None:
    """Train the scorer; write JSON artifacts and model cards.

    With no --data, generate the registry's synthetic population and train
    every registry model into models/ (reproducible). With --data --spec,
    train one model on any labelled file.
    """
    from engine.scoring.registry import read_spec
    from engine.scoring.training import TrainingConfig, train_file, train_registry, write_model

    bands = _scale(scale)
    models_dir = _models_dir(models)
    if spec is not None:
        if data is None:
            raise FrameError("--spec needs --data FILE: the labelled file to train on")
        config = TrainingConfig(folds=folds, seed=seed, prior=prior, governance=governance)
        name = data.stem
        result = train_file(read_frame(data), target=target, spec=spec, bands=bands, bad=bad,
                            segment=name, config=config, source=str(data))
        path = write_model(result, out or Path("out/models"), f"{name}.json")
        typer.echo(_summary(result.artifact["model_id"], result.artifact))
        typer.echo(f"wrote {path} and {path.with_suffix('.md')}")
        return
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
        typer.echo(_summary(doc["model_id"], doc))
        typer.echo(f"  wrote {(out or models_dir) / seg.artifact} (+ model card)")


@app.command("evaluate")
@reports_errors
def evaluate_command(
    data: Data = None,
    target: Target = "default_12m",
    spec: Spec = None,
    bad: Bad = None,
    models: Models = None,
    scale: Scale = None,
    n: Annotated[int, typer.Option(
        "--n", min=100, help="Synthetic customers (without --data).")] = 50_000,
    population_seed: Annotated[int, typer.Option(
        "--population-seed", help="Seed of the synthetic population.")] = 7,
    folds: Folds = 5,
    seed: CvSeed = 42,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Also write the report to this markdown file.")] = None,
) -> None:
    """Measure a scorer: AUC, KS, Gini, Brier, default rate per PD band and decile.

    Without --spec, score labelled customer records with the registry models
    (hold-out check). With --spec, cross-validate the scorer on any labelled
    file (for example real credit data) without publishing anything.
    """
    bands = _scale(scale)
    sections: list[str] = []
    if spec is not None:
        from engine.scoring.training import TrainingConfig, train_file

        if data is None:
            raise FrameError("--spec needs --data FILE: the labelled file to evaluate on")
        config = TrainingConfig(folds=folds, seed=seed, governance=False)
        result = train_file(read_frame(data), target=target, spec=spec, bands=bands, bad=bad,
                            segment=data.stem, config=config, source=str(data))
        doc = result.artifact
        sections.append(f"## {data.name}: {folds}-fold cross-validation (seed {seed})")
        sections.append(_summary(doc["model_id"], doc))
        sections.append(ev.markdown_table(result.folds))
        sections.append(ev.markdown_table(result.bands))
        sections.append(ev.markdown_table(result.deciles))
    else:
        from engine.records import validate_frame
        from engine.scoring.registry import load_registry

        registry = load_registry(_models_dir(models))
        if data is None:
            frame = synth.generate(n, population_seed)
            what = f"synthetic population n={n}, seed={population_seed}"
        else:
            frame, what = read_frame(data), str(data)
        if target not in frame.columns:
            raise FrameError(f"missing target column '{target}'", columns=[target])
        accepted, rejects = validate_frame(frame.drop(columns=[target]))
        from engine.scoring.training import labels

        y = labels(frame.loc[accepted.index, target], bad)
        scored = registry.score_frame(accepted)
        klass = accepted["customer_class"].astype("string").to_numpy(dtype=object,
                                                                    na_value=None)
        sections.append(f"## Registry models on {what} ({len(accepted):,} scored, "
                        f"{len(rejects):,} rejected)")
        for seg in registry.spec.segments:
            mask = np.isin(klass, seg.customer_classes)
            if mask.sum() == 0 or y[mask].min() == y[mask].max():
                sections.append(f"### {seg.segment}: too few customers or defaults to measure")
                continue
            z, p = scored["z"].to_numpy()[mask], scored["pd"].to_numpy()[mask]
            m = ev.metrics(y[mask], z, p)
            model = registry.models[seg.segment]
            sections.append(f"### {model.model_id}: {int(mask.sum()):,} customers, "
                            f"{y[mask].mean():.2%} defaults; AUC {m['auc']:.4f}, "
                            f"KS {m['ks']:.4f}, Gini {m['gini']:.4f}, Brier {m['brier']:.4f}")
            sections.append(ev.markdown_table(ev.band_table(p, y[mask], bands)))
            sections.append(ev.markdown_table(ev.decile_table(z, y[mask])))
    text = "\n\n".join(sections) + "\n"
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
    scale: Scale = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("out/sensitivity"),
) -> None:
    """Adverse change per risk-factor group (1 sd, 10/20/30 %): PD and grades after.

    Writes sensitivity.csv, sensitivity.md, sensitivity.png and the
    per-customer detail sensitivity-customers.parquet into --out.
    """
    from engine.records import validate_frame
    from engine.scoring.registry import load_registry
    from engine.scoring.sensitivity import analyse, chart

    registry = load_registry(_models_dir(models))
    frame = synth.generate(n, population_seed) if data is None else read_frame(data)
    accepted, _rejects = validate_frame(frame.drop(columns=["default_12m"], errors="ignore"))
    values = registry.indicators(accepted)
    result = analyse(values, accepted["customer_class"], registry.score_indicators,
                     registry.catalogue, _scale(scale), customer_id=accepted["customer_id"],
                     seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / "sensitivity.csv", index=False)
    shown = result.table.drop(columns=["indicators"])
    (out / "sensitivity.md").write_text(
        "# Sensitivity of the portfolio PD to each risk-factor group\n\n"
        + ev.markdown_table(shown) + "\n", encoding="utf-8")
    chart(result.table, out / "sensitivity.png")
    write_frame(result.customers, out / "sensitivity-customers.parquet")
    typer.echo(ev.markdown_table(shown[["group", "shock", "mean_pd_before", "mean_pd_after",
                                        "change_pp", "downgraded"]]))
    typer.echo(f"wrote {out}/sensitivity.csv, sensitivity.md, sensitivity.png, "
               "sensitivity-customers.parquet")


