"""The inputs of the auditor report's further sections, computed from files an operator has.

``gridcredit report`` and ``make demo`` both call :func:`audit_inputs`: the
customers that were decided give the rule hits and, against the training
population, the population stability; the decision log gives the provenance
(the caller reads its releases with ``engine.governance.releases.history``);
survey files give the service-quality evaluation. Each input is optional and
its section says what to pass when it is missing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from engine.collections.profiles import profiles_from_frame
from engine.collections.tables import load_collection_tables
from engine.frames import read_frame
from engine.modelops.monitoring import monitor_registry
from engine.report.payments import PaymentFacts, log_events, log_outcomes, payment_facts
from engine.report.provenance import provenance
from engine.report.rulehits import rule_hits
from engine.servicequality.evaluation import evaluate, service_policies
from engine.servicequality.surveys import read_surveys, validate_surveys

__all__ = ["audit_inputs", "payments_of"]


def _frame(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    return source if isinstance(source, pd.DataFrame) else read_frame(source)


def audit_inputs(engine: Any, decisions: pd.DataFrame, *,
                 source: str | Path | None = None,
                 customers: str | Path | pd.DataFrame | None = None,
                 training: str | Path | pd.DataFrame | None = None,
                 log: Any = None, releases: Iterable[Any] = (),
                 surveys: str | Path | pd.DataFrame | None = None,
                 survey_baseline: str | Path | pd.DataFrame | None = None) -> dict[str, Any]:
    """``build_report`` keywords: ``rule_hits``, ``stability``, ``provenance``,
    ``service_quality``, ``payments`` (None where their input is not given).

    ``source`` is the decisions file (its logged run is found by its output
    path); ``log`` an open ``engine.audit.log.DecisionLog``.
    """
    current = _frame(customers) if customers is not None else None
    out: dict[str, Any] = {"rule_hits": None, "stability": None, "provenance": None,
                           "service_quality": None, "payments": None}
    if current is not None:
        out["rule_hits"] = rule_hits(engine, current)
    if current is not None and training is not None:
        out["stability"] = monitor_registry(engine.registry, engine.bands, _frame(training),
                                            current, names=("training population",
                                                            "decided customers"))
    if log is not None:
        out["provenance"] = provenance(decisions, source=source, log=log, releases=releases)
        out["payments"] = payments_of(engine, decisions, log)
    if surveys is not None:
        read = _surveys(surveys)
        before = _surveys(survey_baseline) if survey_baseline is not None else None
        result = evaluate(read[0], decisions, baseline=before[0] if before else None,
                          policies=service_policies(engine.catalogue))
        out["service_quality"] = dataclasses.replace(
            result, rejected=read[1] + (before[1] if before else 0))
    return out


def payments_of(engine: Any, decisions: pd.DataFrame, log: Any) -> PaymentFacts:
    """The log's payment events and outcomes up to the decisions' latest as-of date, and
    the collection cases of its customers with the decisions' grades and segments."""
    as_of = dt.date.fromisoformat(str(decisions["as_of"].dropna().astype(str).max())[:10])
    tables = load_collection_tables(engine.config.rules_dir, engine.catalogue)
    return payment_facts(log_events(log.engine, as_of), profiles_from_frame(decisions).get,
                         as_of, tables, outcomes=log_outcomes(log.engine, as_of),
                         source=str(getattr(log, "url", "")))


def _surveys(source: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Accepted surveys and the number of rows rejected (the rejects stay countable)."""
    if isinstance(source, pd.DataFrame):
        accepted, rejects = validate_surveys(source)
        return accepted, len(rejects)
    read = read_surveys(source)
    return read.surveys, len(read.rejects)
