"""The service-quality evaluation against a plain pandas group-by of the same gaps.

``gridcredit service-quality --surveys F --baseline F2 --decisions D`` reads
two survey files, evaluates them against the decisions and writes the page.
Timed in this process on the same surveys (``synth.generate_surveys`` of a
decided population, a baseline wave with no policy held and a later wave):

- baseline: the gap (perceived - expected) of the five dimensions merged with
  each customer's segment and grade, and its mean per segment and per grade,
  by one ``merge`` and two ``groupby().mean()`` in pandas;
- evaluate: ``engine.servicequality.evaluation.evaluate`` on the validated
  surveys (gaps with 95 % intervals per dimension, segment and grade, the
  sensitivity slopes, the change against the baseline and the policy
  differences in differences);
- command: what the command runs after its arguments are parsed: both CSV
  files read and validated (``read_surveys``), ``evaluate``, and the HTML page
  with its charts written.

The figures are seconds and survey rows per second of each, and the ratio of
each to the baseline (how many times its time). Sizes: quick 20,000 surveyed
customers, full 200,000 (``--rows`` overrides), two waves each.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from engine import synth
from engine.frames import write_frame

SEED = 27


def _baseline(surveys: pd.DataFrame, decisions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    from engine.servicequality.surveys import DIMENSIONS, expected_column, perceived_column

    merged = surveys.merge(decisions[["customer_id", "consumption_class", "grade"]],
                           on="customer_id", how="left")
    gap = pd.DataFrame({d: merged[perceived_column(d)] - merged[expected_column(d)]
                        for d in DIMENSIONS})
    gap["overall"] = gap.mean(axis=1)
    gap[["consumption_class", "grade"]] = merged[["consumption_class", "grade"]]
    return {by: gap.groupby(by)[[*DIMENSIONS, "overall"]].mean()
            for by in ("consumption_class", "grade")}


def _timed(fn, repeat: int = 3) -> tuple[float, object]:
    """The best of ``repeat`` runs (seconds) and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def run(results: Path, quick: bool = False, rows: int | None = None) -> dict:
    from engine.batch.decide import decide_frame
    from engine.decider import load
    from engine.report.servicequality import write_service_quality
    from engine.servicequality.evaluation import evaluate, service_policies
    from engine.servicequality.surveys import read_surveys, validate_surveys

    n = rows or (20_000 if quick else 200_000)
    engine = load()
    population = synth.generate(n, SEED).drop(columns=["default_12m"])
    decisions, _ = decide_frame(engine, population)
    before_raw = synth.generate_surveys(decisions.assign(policies=""), "2026-Q1", seed=SEED,
                                        wave=0)
    after_raw = synth.generate_surveys(decisions, "2026-Q3", seed=SEED, wave=1)
    after, before = validate_surveys(after_raw)[0], validate_surveys(before_raw)[0]
    policies = service_policies(engine.catalogue)
    tmp = Path(tempfile.mkdtemp(prefix="gridcredit-bench-sq-"))
    try:
        files = (write_frame(after_raw, tmp / "q3.csv"), write_frame(before_raw, tmp / "q1.csv"))
        base_s, means = _timed(lambda: _baseline(after, decisions))
        eval_s, result = _timed(lambda: evaluate(after, decisions, baseline=before,
                                                 policies=policies))

        def command() -> Path:
            read = [read_surveys(f, rejects_to=tmp / f"{f.stem}.rejects.csv") for f in files]
            found = evaluate(read[0].surveys, decisions, baseline=read[1].surveys,
                             policies=policies)
            return write_service_quality(tmp / "sq.html", found, overwrite=True,
                                         templates_dir=engine.config.templates_dir,
                                         languages=engine.explainer.languages)

        command_s, _ = _timed(command, repeat=1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    overall = result.by_grade[result.by_grade["dimension"] == "overall"].set_index("group")
    agree = all(abs(float(overall.loc[g, "gap"]) - float(means["grade"].loc[g, "overall"]))
                < 1e-9 for g in means["grade"].index if g in overall.index)
    return {
        "surveys": len(after), "baseline_surveys": len(before),
        "baseline": "pandas merge + groupby mean of the five gaps by segment and grade",
        "baseline_seconds": round(base_s, 4),
        "baseline_rows_per_s": round(len(after) / base_s),
        "evaluate_seconds": round(eval_s, 3),
        "evaluate_rows_per_s": round(len(after) / eval_s),
        "evaluate_vs_baseline": round(eval_s / base_s, 1),
        "command_seconds": round(command_s, 3),
        "command_rows_per_s": round(2 * len(after) / command_s),
        "command_vs_baseline": round(command_s / base_s, 1),
        "grade_means_agree": agree,
    }
