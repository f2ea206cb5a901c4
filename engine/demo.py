"""The whole product in one run: population, training, decisions, explanations, report.

``run_demo`` is what ``make demo`` calls. Each step uses the same library
functions as the individual commands, so the demo shows what a utility would
run, not a special path.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from engine import synth
from engine.audit.log import open_log
from engine.batch.decide import decide_file
from engine.batch.runfiles import rejects_path
from engine.collections.profiles import profiles_from_frame
from engine.collections.protections import protection_kinds
from engine.collections.synthetic import generate_events
from engine.collections.tables import PROTECTIONS_FILE, load_collection_tables
from engine.collections.worklist import due_list
from engine.config import EngineConfig
from engine.decider import load, load_tables
from engine.events.processor import EventProcessor
from engine.events.replay import replay
from engine.frames import write_frame
from engine.governance.releases import history, is_published, publish
from engine.modelops import TrainingConfig, analyse_portfolio, train_registry, write_sensitivity
from engine.policies import load_catalogue
from engine.report.auditinputs import audit_inputs
from engine.report.html import write_report
from engine.report.inputs import labels_from
from engine.report.servicequality import write_service_quality
from engine.servicequality.evaluation import evaluate, service_policies
from engine.servicequality.surveys import read_surveys, survey_rejects_path

__all__ = ["DemoResult", "run_demo"]

POPULATION_SEED = 2026
# Customers whose bills and payments go through the event rules into the decision log
# (about 24 events each, at a few thousand events a second): the report's payment section.
LOGGED_EVENT_CUSTOMERS = 1_000
# Customers surveyed for the service-quality evaluation, and the two survey periods.
SURVEYED = 20_000
BASELINE_PERIOD, SURVEY_PERIOD = "2026-Q1", "2026-Q3"


@dataclass
class DemoResult:
    out: Path
    files: dict[str, Path] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def text(self) -> str:
        width = max(len(k) for k in self.files) if self.files else 0
        listing = [f"  {k:<{width}}  {v}" for k, v in self.files.items()]
        return "\n".join([*self.lines, "", f"everything is under {self.out}/:", *listing])


def run_demo(n: int = 100_000, out: str | Path | None = None, *,
             home: str | Path | None = None,
             say: Callable[[str], None] = print) -> DemoResult:
    """Generate ``n`` customers, train, decide, explain, analyse and report under ``out``.

    ``out`` defaults to the project's ``out/`` (``EngineConfig.out_dir``).
    """

    config = EngineConfig.at(home)
    out = Path(out) if out is not None else config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult(out=out)
    started = time.perf_counter()

    say(f"1/6 generating {n:,} synthetic customers (seed {POPULATION_SEED})")
    population = synth.generate(n, POPULATION_SEED)
    customers = write_frame(population.drop(columns=["default_12m"]), out / "customers.parquet")
    labels_path = write_frame(population[["customer_id", "default_12m"]], out / "outcomes.csv")
    result.files |= {"customers": customers, "outcomes": labels_path}

    say("2/6 training the enterprise and residential scorers (5-fold CV)")
    bands = load_tables(config).scale
    models_out = out / "models"
    trained = train_registry(population, models_dir=config.models_dir, out_dir=models_out,
                             bands=bands, config=TrainingConfig(),
                             source=f"engine.synth.generate(n={n}, seed={POPULATION_SEED})")
    for segment, res in trained.items():
        cv = res.artifact["cv_metrics"]
        result.lines.append(f"model {res.artifact['model_id']}: CV AUC {cv['auc_mean']:.3f}, "
                            f"KS {cv['ks_mean']:.3f} on {res.artifact['training']['rows']:,} "
                            f"{segment} customers")
    result.files["models"] = models_out

    say("3/6 publishing the tables and deciding every customer into the decision log")
    engine = load(EngineConfig.at(config.home, models_dir=models_out))
    decisions_path = out / "decisions.parquet"
    db = str(out / "decisions.sqlite")
    _publish(engine, db)
    summary = decide_file(engine, customers, decisions_path, overwrite=True, db=db)
    decisions = pd.read_parquet(decisions_path)
    decisions.to_csv(out / "decisions.csv", index=False)
    result.lines.append(summary.text().splitlines()[0])
    result.files |= {"decisions": decisions_path, "decisions (CSV)": out / "decisions.csv",
                     "rejects": rejects_path(decisions_path)}

    say("   collections: 12 months of bills and payments, and the day's work list")
    result.files |= _collections(config, population, decisions, out, result.lines)
    result.files |= _logged_events(config, result.files["events"], db, out, result.lines)

    say("4/6 explaining a few decisions")
    explained = _explain_showcase(engine, population, decisions, out / "explanations")
    result.files["explanations"] = explained

    say("5/6 sensitivity analysis by risk-factor group")
    sample = population.sample(n=min(n, 20_000), random_state=POPULATION_SEED)
    sens = analyse_portfolio(sample, engine.registry, engine.bands)
    write_sensitivity(sens, out / "sensitivity")
    result.files["sensitivity"] = out / "sensitivity"

    say("6/6 service-quality surveys and evaluation, auditor report")
    surveys = _surveys(decisions, out)
    result.files |= surveys
    result.files |= _service_quality(engine, decisions, surveys, out)
    further = _further(engine, decisions, decisions_path, population, db, surveys)
    result.files |= _reports(engine, decisions, population, rejects_path(decisions_path),
                             sens.table, out, further)
    result.files["decision log"] = Path(db)
    result.lines.append(f"done in {time.perf_counter() - started:.0f} s")
    return result


def _collections(config: EngineConfig, population: pd.DataFrame, decisions: pd.DataFrame,
                 out: Path, lines: list[str]) -> dict[str, Path]:
    """The population's bills and payments (``synth --events``) and the work list of the
    as-of date (``collections due --events --decisions``)."""

    events = generate_events(population, end=synth.DEFAULT_AS_OF, seed=POPULATION_SEED)
    events_path = write_frame(events, out / "events.parquet")
    tables = load_collection_tables(config.rules_dir, load_catalogue(config.catalogue))
    work = due_list(events, profiles_from_frame(decisions), synth.DEFAULT_AS_OF, tables)
    day = synth.DEFAULT_AS_OF.isoformat()
    lines.append(f"collections on {day}: {len(events):,} events, {len(work.rows):,} steps due "
                 f"for {work.examined:,} customers with open bills")
    return {"events": events_path,
            "collections work list": write_frame(work.rows, out / f"collections-{day}.csv")}


def _logged_events(config: EngineConfig, events_path: Path, db: str, out: Path,
                   lines: list[str]) -> dict[str, Path]:
    """The events of the first ``LOGGED_EVENT_CUSTOMERS`` customers replayed into the decision
    log (``events replay --db``): chained, and evaluated by the event rules."""
    events = pd.read_parquet(events_path)
    chosen = events["customer_id"].drop_duplicates().head(LOGGED_EVENT_CUSTOMERS)
    path = write_frame(events[events["customer_id"].isin(chosen)], out / "events-logged.parquet")
    processor = EventProcessor.open(db, config.rules_dir / "events.yaml",
                                    protection_kinds=protection_kinds(
                                        config.rules_dir / PROTECTIONS_FILE))
    try:
        summary = replay(path, processor)
    finally:
        processor.store.close()
    lines.append(f"events of {len(chosen):,} customers replayed into the decision log: "
                 f"{summary.accepted:,} accepted, {summary.rejected:,} refused (already logged "
                 "by an earlier run, or invalid)")
    return {"events (logged)": path}


def _explain_showcase(engine: Any, population: pd.DataFrame, decisions: pd.DataFrame,
                      explained: Path) -> Path:
    """Decide the showcase customers again and write their decision JSON and explanations:
    the auditor's in English and Chinese, the customer notice in both languages."""
    if explained.exists():
        shutil.rmtree(explained)
    explained.mkdir()
    records = population.drop(columns=["default_12m"]).set_index("customer_id", drop=False)
    for customer_id in _showcase(decisions):
        row = records.loc[customer_id].to_dict()
        record = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()
                  if not pd.isna(v)}
        decision = engine.decide(record)
        (explained / f"{customer_id}.json").write_text(decision.to_json(), encoding="utf-8")
        for fmt in ("md", "html"):
            (explained / f"{customer_id}.{fmt}").write_text(engine.explain(decision, fmt),
                                                             encoding="utf-8")
            for lang, audience in (("zh-CN", "auditor"), ("zh-CN", "customer"),
                                   ("en", "customer")):
                name = f"{customer_id}.{audience}.{lang}.{fmt}".replace(".auditor", "")
                (explained / name).write_text(
                    engine.explain(decision, fmt, lang=lang, audience=audience),
                    encoding="utf-8")
    return explained


def _publish(engine: Any, db: str) -> None:
    """Publish the shipped tables as a release of the demo's log, unless they already are."""
    with open_log(db) as log:
        if not is_published(log.engine, engine.tables.content_hash):
            publish(engine, log.engine, message="the shipped tables, published by make demo",
                    publisher="demo", approver="demo reviewer")


def _surveys(decisions: pd.DataFrame, out: Path) -> dict[str, Path]:
    """Surveys of a sample of the decided customers: a baseline before the differentiated
    service started (no policy held yet) and a period after it, the same people asked twice."""
    sample = decisions.sample(n=min(len(decisions), SURVEYED), random_state=POPULATION_SEED)
    before = synth.generate_surveys(sample.assign(policies=""), BASELINE_PERIOD,
                                    seed=POPULATION_SEED, wave=0)
    after = synth.generate_surveys(sample, SURVEY_PERIOD, seed=POPULATION_SEED, wave=1)
    return {"surveys (baseline)": write_frame(before, out / f"surveys-{BASELINE_PERIOD}.csv"),
            "surveys": write_frame(after, out / f"surveys-{SURVEY_PERIOD}.csv")}


def _service_quality(engine: Any, decisions: pd.DataFrame, surveys: dict[str, Path],
                     out: Path) -> dict[str, Path]:
    """The service-quality report in English and Chinese, as the command writes it."""
    page = out / "service-quality.html"
    files = [read_surveys(surveys[k], rejects_to=survey_rejects_path(surveys[k], page))
             for k in ("surveys", "surveys (baseline)")]
    result = evaluate(files[0].surveys, decisions, baseline=files[1].surveys,
                      policies=service_policies(engine.catalogue))
    reading = {f.source: f.reading(survey_rejects_path(f.source, page)) for f in files}
    options = {"templates_dir": engine.config.templates_dir,
               "languages": engine.explainer.languages, "reading": reading}
    return {"service quality": write_service_quality(page, result, overwrite=True, **options),
            "service quality (zh-CN)": write_service_quality(
                out / "service-quality.zh-CN.html", result, overwrite=True, lang="zh-CN",
                **options)}


def _further(engine: Any, decisions: pd.DataFrame, source: Path, population: pd.DataFrame,
             db: str, surveys: dict[str, Path]) -> dict[str, Any]:
    """Rule hits, stability (against the training population, which is the one decided),
    provenance from the log, and the service quality, for the auditor report."""
    customers = population.drop(columns=["default_12m"])
    with open_log(db, create=False) as log:
        return audit_inputs(engine, decisions, source=source, customers=customers,
                            training=population, log=log, releases=history(log.engine),
                            surveys=surveys["surveys"],
                            survey_baseline=surveys["surveys (baseline)"])


def _reports(engine: Any, decisions: pd.DataFrame, population: pd.DataFrame,
             rejects: Path, sensitivity: pd.DataFrame, out: Path,
             further: dict[str, Any]) -> dict[str, Path]:
    """The auditor report in English (outcomes in sample: the models were trained on this
    population) and in Chinese."""
    common = {"labels": labels_from(decisions, population),
              "rejects": pd.read_csv(rejects), "sensitivity": sensitivity,
              "versions": engine.versions(), "band_edges": [b.lo for b in engine.bands[1:]],
              "grades": [b.grade for b in engine.bands],
              "templates_dir": engine.config.templates_dir,
              "policy_titles": {p.id: p.title for p in engine.catalogue}, **further}
    return {
        "report": write_report(out / "report.html", decisions, overwrite=True,
                               in_sample=True, **common),
        "report (zh-CN)": write_report(out / "report.zh-CN.html", decisions, overwrite=True,
                                       lang="zh-CN", languages=engine.explainer.languages,
                                       **common),
    }


def _showcase(decisions: pd.DataFrame) -> list[str]:
    """A few customers worth reading: high value, outage-sensitive, overridden, lowest grade."""
    picks: list[str] = []
    for mask in (
        decisions["value_tier"] == "high",
        decisions["outage_sensitivity"] == "high",
        decisions["override"].notna() & (decisions["override"] != ""),
        decisions["grade"] == "C",
        decisions["policies"].str.contains("overdue_rebate", na=False),
    ):
        chosen = decisions.loc[mask & ~decisions["customer_id"].isin(picks), "customer_id"]
        if len(chosen):
            picks.append(str(chosen.iloc[0]))
    return picks
