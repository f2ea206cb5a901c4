"""Whole customer bases: validate, score and decide column-wise, chunk by chunk, resumably.

The batch path runs the same stages as ``Engine.decide`` (records, facts,
indicators, score, tables) over whole frames with the vectorised table
executor, and writes one flat row per customer. Rows that fail validation go
to a rejects file beside the output with the field and the reason, so that
rows in = rows decided + rows rejected, always.

A run never holds more than one chunk in memory and can be resumed after an
interruption; how chunks are kept on disk is ``engine.batch.runfiles``.
``engine.batch.scaleout`` drives the same run from Dask workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from engine import scale as master_scale
from engine.assembly import json_value
from engine.audit.archive import ArchiveError
from engine.audit.recorder import open_recorder
from engine.audit.store import AuditStoreError
from engine.batch.runfiles import (
    DECISION_COLUMNS,
    REASONS,
    BatchRun,
    BatchSummary,
    empty_decisions,
    read_chunks,
)
from engine.batch.runlog import log_run
from engine.batch.seals import decision_ids_of, record_columns, seal_rows
from engine.decider import SEGMENTS
from engine.errors import FrameError
from engine.events.outcomes import frame_outcomes
from engine.events.store import open_store
from engine.pipeline import StageClock, TableRun, run_frame
from engine.records import FIELDS, validate_record

if TYPE_CHECKING:
    from engine.decider import Engine

__all__ = [
    "archive_for_run",
    "decide_file",
    "decide_logged",
    "decide_frame",
    "explain_customers",
    "model_hashes",
    "progress_bar",
    "run_logger",
    "table_columns",
]

# --------------------------------------------------------------------------- one frame

def decide_frame(engine: Engine, frame: pd.DataFrame, *, first_row: int = 0,
                 timings: dict[str, float] | None = None, run_id: str | None = None,
                 events: list[tuple[Any, ...]] | None = None,
                 decision_ids: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Decide every valid row of ``frame``; return ``(decisions, rejects)``.

    ``first_row`` numbers the rejects when ``frame`` is one chunk of a larger
    input; ``timings`` (stage -> seconds) is added to, so a run can say where
    its time went. With ``run_id`` (a logged run) every row is sealed
    (``engine.batch.seals``): it carries its decision id (run id and input
    row), its digest, its explanation columns and the record it was decided
    from; ``events`` are the payment-event outcomes of each row of ``frame``.
    """
    decided = run_frame(engine, frame, first_row=first_row, timings=timings)
    population = decided.population
    if not len(population):
        return empty_decisions(), population.rejects
    clock = StageClock(timings)
    tables = table_columns(engine, decided.run)
    clock.lap("tables")

    facts, scored = population.facts, population.scores
    n = len(facts)
    pd_values = facts["pd"].to_numpy(dtype=float)
    bands = pd.Categorical.from_codes(master_scale.assign(pd_values, engine.bands),
                                      categories=[b.grade for b in engine.bands])
    as_of = pd.to_datetime(facts["as_of"]).to_numpy()
    day_codes, days = pd.factorize(as_of)
    out: dict[str, Any] = {
        "customer_id": _objects(facts["customer_id"]),
        "customer_class": _objects(facts["customer_class"]),
        "as_of": pd.Categorical.from_codes(
            day_codes, categories=np.datetime_as_string(np.asarray(days, dtype="datetime64[D]"))),
        "model_id": _objects(scored["model_id"]),
        "model_sha256": model_hashes(engine, scored["model_id"]),
        "z": facts["z"].to_numpy(dtype=float),
        "pd": pd_values,
        "band_grade": bands,
        **tables,
    }
    for i in range(1, REASONS + 1):
        column = f"reason_{i}"
        out[column] = (_objects(scored[column]) if column in scored
                       else np.full(n, None, dtype=object))
    out["table_version"] = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8),
                                                     categories=[engine.tables.version])
    out["table_hash"] = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8),
                                                  categories=[engine.tables.content_hash])
    decisions = pd.DataFrame({c: _column(out[c], facts.index) for c in DECISION_COLUMNS},
                             index=facts.index)
    shadow = engine.registry.score_challengers(population.indicators, facts["customer_class"],
                                               engine.bands)
    if shadow is not None:
        decisions = decisions.join(shadow.drop(columns="challenger_z").assign(
            challenger_used=False))
    clock.lap("assemble")
    if run_id is not None:
        decisions = _sealed(engine, decided, decisions, run_id, first_row, events,
                            decision_ids, shadow)
        clock.lap("seal")
    return decisions, population.rejects


def _sealed(engine: Engine, decided: Any, decisions: pd.DataFrame, run_id: str,
            first_row: int, events: list[tuple[Any, ...]] | None,
            decision_ids: list[str] | None, shadow: pd.DataFrame | None) -> pd.DataFrame:
    """The decisions with their seal and input columns (``engine.batch.seals``)."""
    positions = np.asarray(decided.population.facts.index, dtype=np.int64)
    ids = ([decision_ids[int(p)] for p in positions] if decision_ids is not None
           else decision_ids_of(run_id, first_row + positions))
    outcomes = [events[int(p)] for p in positions] if events is not None else None
    sealed = seal_rows(engine, decided, ids, outcomes, shadow=shadow)
    extra = {**sealed.columns, **record_columns(sealed.records)}
    return pd.concat([decisions, pd.DataFrame(extra, index=decisions.index)], axis=1)


def model_hashes(engine: Engine, model_ids: pd.Series) -> pd.Categorical:
    """The SHA-256 of the artifact that scored each row, as codes into the few models' hashes.

    The same value ``Decision.score.model_sha256`` holds, so a row names the
    exact file that scored it, not only its id.
    """
    ids = model_ids.array if isinstance(model_ids.dtype, pd.CategoricalDtype) else \
        pd.Categorical(model_ids)
    sha = {m.model_id: m.sha256 for m in engine.registry.models.values()}
    return pd.Categorical.from_codes(ids.codes, categories=[sha[m] for m in ids.categories])


def table_columns(engine: Engine, run: TableRun) -> dict[str, Any]:
    """Grade, grade rule, override, segments and policies of a batch row, as columns.

    Only what a batch row carries is derived from the rule masks, with integer
    codes throughout: outputs come back as codes into their few values, the
    grade rule is the grade table's winner, and the policy list is read once
    per distinct combination of policy rules (``PolicyGrants``), never once
    per row. Policies keep the per-decision order: by the first rule, in
    execution order, that gave each.
    """
    ev = run.evaluation
    n = len(ev.index)
    grade_table = next(t for t in run.tables.tables if "grade" in t.outputs)
    winner = ev.winners[grade_table.name]
    if winner is None:
        eff = ev.effective[grade_table.name]
        winner = np.where(eff.any(axis=0), eff.argmax(axis=0), -1)
    rule_ids = [r.id for r in grade_table.rules]
    band_ids = {rid for table, rid in engine.band_rules if table == grade_table.name}
    grade_rule = pd.Categorical.from_codes(winner, categories=rule_ids) if rule_ids else \
        np.full(n, None)
    override_codes = np.array([-1 if rid in band_ids else i for i, rid in enumerate(rule_ids)]
                              + [-1])[winner]
    out: dict[str, Any] = {
        "grade": ev.coded["grade"].categorical(),
        "grade_rule": grade_rule,
        "override": pd.Categorical.from_codes(override_codes, categories=rule_ids),
    }
    for name in SEGMENTS:
        out[name] = (ev.coded[name].categorical() if name in ev.coded
                     else np.full(n, None, dtype=object))
    grants = run.grants
    texts = [";".join(ids) for ids in grants.ids()]
    text_codes, distinct = pd.factorize(pd.Index(texts, dtype=object))
    out["policies"] = pd.Categorical.from_codes(text_codes[grants.inverse],
                                                categories=distinct.astype(object))
    return out




def _objects(values: Any) -> Any:
    """Text values as they are (Arrow-backed strings and categories stay so), anything else
    as objects.

    Object arrays hold nulls as None; string arrays keep their own null, which
    the Parquet/CSV writers turn into the same empty cell.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if isinstance(series.dtype, pd.StringDtype | pd.CategoricalDtype):
        return series.array
    arr = np.array(series.to_numpy(dtype=object), dtype=object, copy=True)
    arr[pd.isna(arr)] = None
    return arr


def _column(values: Any, index: pd.Index) -> pd.Series:
    if isinstance(values, pd.Categorical | pd.api.extensions.ExtensionArray):
        return pd.Series(values, index=index)
    arr = np.asarray(values)
    return pd.Series(arr, index=index, dtype=object if arr.dtype == object else arr.dtype)


def decide_file(engine: Engine, source: str | Path, output: str | Path, *,
                overwrite: bool = False, resume: bool = False, chunk_size: int = 100_000,
                progress: bool = False, db: str | None = None) -> BatchSummary:
    """Decide a CSV/Parquet file chunk by chunk into a CSV/Parquet output and a rejects CSV.

    With ``db`` each chunk's customers' payment-event outcomes in force on
    their ``as_of`` are read from that database's event store in one query per
    512 customers (``engine.events.outcomes.frame_outcomes``) and decide
    through the same tables as the record's own history fields.
    """
    store = None
    if db is not None:
        # the event store (and SQLAlchemy) is loaded only for a logged run

        archive_for_run(engine, db)
        store = open_store(db, create=False)
    run = BatchRun(engine, source, output, chunk_size=chunk_size, overwrite=overwrite,
                   resume=resume, logged=db is not None)
    run_id = run.run_id if db is not None else None
    bar = progress_bar(run.total_rows, progress, initial=sum(c["rows"] for c in run.done.values()))
    for index, first_row, chunk in run.pending():
        timings: dict[str, float] = {}
        events = None
        if store is not None:
            found = frame_outcomes(chunk, store)
            chunk, events = found.frame, found.per_row
        decisions, rejects = decide_frame(engine, chunk, first_row=first_row, timings=timings,
                                          run_id=run_id, events=events)
        run.add_timings(timings)
        run.commit(index, first_row, len(chunk), decisions, rejects)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return run.finish(log=run_logger(engine, db, "single process") if db else None)


def run_logger(engine: Engine, db: str, executor: str) -> Any:
    """What ``BatchRun.finish`` calls to log a finished run in ``db``."""

    def log(run: BatchRun, summary: BatchSummary) -> None:
        log_run(db, engine, run, summary, executor)

    return log


def decide_logged(engine: Engine, record: dict[str, Any], db: str) -> Any:
    """One decision with the customer's event outcomes from ``db``, logged there.

    The outcomes are read before deciding and the decision is in the log
    before it is returned; an unreachable database is an ``AuditStoreError``
    and nothing is decided as if the customer had no events.
    """
    valid = validate_record(dict(record))
    store = open_store(db)
    try:
        outcomes = store.outcomes_for(valid.customer_id, valid.as_of)
    finally:
        store.close()
    decision = engine.decide(valid, outcomes=outcomes if outcomes.outcomes else None)
    with open_recorder(db) as recorder:
        recorder.decision(engine, decision)
    return decision


def archive_for_run(engine: Engine, db: str) -> None:
    """Keep the table set and models that will decide in ``db``'s archive (replayable later).

    Done before anything is decided: a database that cannot take them stops
    the run at once, naming it.
    """
    try:
        with open_recorder(db) as recorder:
            recorder.keep(engine)
    except (AuditStoreError, ArchiveError) as exc:
        raise AuditStoreError(
            f"cannot log a batch run in {db}: archiving its tables and models failed "
            f"({exc.message}); nothing was decided: make the database writable, or decide "
            "without --db") from None


def progress_bar(total: int | None, enabled: bool, initial: int = 0) -> Any:
    """A tqdm bar over rows on stderr, or None when ``enabled`` is false."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="rows", unit_scale=True, desc="deciding",
                leave=False)


# --------------------------------------------------------------------------- explanations

def explain_customers(engine: Engine, source: str | Path, customer_ids: list[str], *,
                      fmt: str = "text", chunk_size: int = 100_000, lang: str | None = None,
                      audience: str | None = None) -> dict[str, str]:
    """Explanations for a few customers of a batch input, rendered only for them.

    A batch writes no explanation per row; an auditor asks for the customers
    they need, and each is decided again on the per-decision path, which
    carries the full trace (the differential test holds both paths equal).
    """

    wanted = set(customer_ids)
    known = {f.name for f in FIELDS}
    found: dict[str, str] = {}
    for chunk in read_chunks(Path(source), chunk_size):
        ids = chunk["customer_id"].astype("string")
        for raw in chunk[ids.isin(wanted).fillna(False).to_numpy()].to_dict(orient="records"):
            values = ((k, json_value(v)) for k, v in raw.items() if k in known)
            record = {k: v for k, v in values if v is not None}
            found[str(raw["customer_id"])] = engine.explain(engine.decide(record), fmt,
                                                            lang=lang, audience=audience)
    missing = [c for c in customer_ids if c not in found]
    if missing:
        raise FrameError("customer id(s) not in the input: " + ", ".join(missing),
                         file=str(source))
    return {c: found[c] for c in customer_ids}
