"""The auditor's questions in the report: rule hits (zero hits listed), overrides and their
outcomes, disparity, calibration in words, stability, provenance and service quality, each
number checked against an independent count, and each section naming what it lacks."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text
from scipy.stats import binom
from typer.testing import CliRunner

from engine import synth
from engine.audit.log import open_log
from engine.batch.decide import decide_frame
from engine.cli import app
from engine.language import load_languages
from engine.modelops.calibration import band_calibration
from engine.modelops.monitoring import monitor_registry
from engine.report import charts
from engine.report.auditinputs import audit_inputs
from engine.report.auditsections import calibration_sentences
from engine.report.html import build_report
from engine.report.inputs import labels_from
from engine.report.measures import default_rate_by_grade
from engine.report.rulehits import rule_hits
from engine.servicequality.evaluation import evaluate
from engine.servicequality.surveys import validate_surveys

runner = CliRunner()
CREATED = "2026-12-01T09:00:00+00:00"
SECTIONS = ("calibration-notes", "rule-hits", "override-outcomes", "disparity", "stability",
            "service-quality", "payments", "provenance")


@pytest.fixture(scope="module")
def decided(engine):
    population = synth.generate(1_500, seed=31)
    customers = population.drop(columns=["default_12m"])
    decisions, _ = decide_frame(engine, customers)
    return population, customers, decisions, labels_from(decisions, population)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_rule_hits_count_every_rule_and_list_those_no_customer_reached(engine, decided):
    _, customers, decisions, _ = decided
    hits = rule_hits(engine, customers)
    assert len(hits) == sum(len(t.rules) for t in engine.tables.tables)
    grades = hits[hits["table"] == "grades"].set_index("rule")["customers"]
    assert grades.to_dict() == {r: int((decisions["grade_rule"] == r).sum())
                                for r in grades.index}
    zero = hits[hits["customers"] == 0]["rule"].tolist()
    assert zero, "the shipped rules have safeguards no synthetic customer reaches"
    html = build_report(decisions, rule_hits=hits, created_at=CREATED)
    listed = html[html.index('id="zero-hit-rules"'):]
    listed = listed[:listed.index("</div>")]
    for rule in zero:
        assert f"<code>{rule}</code>" in listed
    assert f"Rules no customer reached ({len(zero)}):" in listed


def test_overridden_customers_default_rates_by_pd_only_and_final_grade(decided):
    _, _, decisions, labels = decided
    html = build_report(decisions, labels=labels, created_at=CREATED)
    moved = decisions["override"].notna() & (decisions["band_grade"] != decisions["grade"])
    rule, band, grade = decisions.loc[moved, ["override", "band_grade", "grade"]] \
        .value_counts().index[0]
    mask = ((decisions["override"] == rule) & (decisions["band_grade"] == band)
            & (decisions["grade"] == grade))
    rate = labels[mask].mean()
    n = int(mask.sum())
    word = "customer" if n == 1 else "customers"
    sentence = re.search(rf"{re.escape(rule)} moved {n:,} {word} from {band} \(the PD-only "
                         rf"grade\) to {grade}; (\d+) (?:of them )?defaulted \(([\d.]+)%\)",
                         _text(html))
    assert sentence is not None
    assert int(sentence.group(1)) == int(labels[mask].sum())
    assert float(sentence.group(2)) == pytest.approx(rate * 100, abs=0.006)


def test_disparity_shares_by_customer_class(decided):
    _, _, decisions, _ = decided
    html = build_report(decisions, created_at=CREATED)
    section = _text(html[html.index('id="disparity"'):html.index('id="stability"')])
    residential = decisions["customer_class"] == "residential"
    c_share = (decisions.loc[residential, "grade"] == "C").mean()
    deposits = decisions.loc[residential, "policies"].fillna("").str.split(";").apply(
        lambda p: "security_deposit" in p).mean()
    assert (f"residential {residential.sum():,} {c_share * 100:.2f} % {deposits * 100:.2f} %"
            in section)


def test_a_disagreeing_grade_gets_a_plain_sentence_with_its_binomial_interval():
    en = load_languages("policies/locale").get("en")
    rows = [{"grade": "B", "customers": 2_000, "defaults": 210, "observed": 0.105,
             "mean_pd": 0.0808, "agrees": False},
            {"grade": "A", "customers": 1_000, "defaults": 30, "observed": 0.03,
             "mean_pd": 0.03, "agrees": True}]
    tested = band_calibration(pd.DataFrame(rows))
    low, high = binom.interval(0.99, 2_000, 0.0808)
    (sentence,) = calibration_sentences(rows, tested, en)
    assert sentence == (f"Grade B: 210 of 2,000 customers defaulted (10.5%) against a mean "
                        f"predicted PD of 8.08%. At that PD, {int(low)} to {int(high)} defaults "
                        "would fall inside the 99 % binomial interval; more were seen, so the "
                        "model understates the risk of this grade.")


def test_calibration_rows_in_the_report_follow_the_binomial_test(decided):
    _, _, decisions, labels = decided
    html = build_report(decisions, labels=labels, created_at=CREATED)
    table = default_rate_by_grade(decisions["grade"], decisions["pd"], labels)
    section = _text(html[html.index('id="calibration-notes"'):html.index('id="rule-hits"')])
    for r in table.to_dict("records"):
        low, high = binom.interval(0.99, r["customers"], r["mean_pd"])
        assert f"{r['grade']} {r['customers']:,} {r['defaults']:,}" in section
        assert f"{int(low):,} – {int(high):,}" in section


def test_stability_against_the_training_population(engine, decided):
    _, customers, decisions, _ = decided
    training = synth.generate(1_500, seed=32)
    result = monitor_registry(engine.registry, engine.bands, training, customers,
                              names=("training population", "decided customers"))
    html = build_report(decisions, stability=result, created_at=CREATED)
    for d in result.drifts:
        assert (f"Model {d.model_id}: score PSI {d.score_psi:.4f}" in _text(html))


def test_service_quality_in_the_auditor_report(decided):
    _, _, decisions, _ = decided
    surveys = validate_surveys(synth.generate_surveys(decisions, "2026-Q3"))[0]
    result = evaluate(surveys, decisions, policies=["fast_response_service"])
    html = build_report(decisions, service_quality=result, created_at=CREATED)
    section = _text(html[html.index('id="service-quality"'):html.index('id="provenance"')])
    assert "Surveys of 2026-Q3: 1,500 accepted" in section
    c = result.by_grade[(result.by_grade["group"] == "C")
                        & (result.by_grade["dimension"] == "overall")].iloc[0]
    assert f"C {int(c['n']):,} {c['gap']:.2f}" in section


def test_every_section_says_what_it_lacks(decided):
    _, _, decisions, _ = decided
    html = build_report(decisions, created_at=CREATED)
    for section in SECTIONS:
        assert f'id="{section}"' in html
    for note in ("no-rule-hits", "no-stability", "no-service-quality", "no-payments", "no-log"):
        assert f'id="{note}"' in html


def test_the_report_command_shows_the_logged_run_chain_head_and_input_sha(tmp_path):
    population = synth.generate(400, seed=33)
    customers = tmp_path / "customers.csv"
    population.drop(columns=["default_12m"]).to_csv(customers, index=False)
    population[["customer_id", "default_12m"]].to_csv(tmp_path / "y.csv", index=False)
    db = str(tmp_path / "log.sqlite")
    out = tmp_path / "decisions.parquet"
    decided = runner.invoke(app, ["decide", "--input", str(customers), "--out", str(out),
                                  "--db", db])
    assert decided.exit_code == 0, decided.output
    result = runner.invoke(app, ["report", "--decisions", str(out), "--out",
                                 str(tmp_path / "r.html"), "--labels", str(tmp_path / "y.csv"),
                                 "--customers", str(customers), "--db", db])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r.html").read_text()
    with open_log(db, create=False) as log:
        (run,) = log.runs()
        head = log.verify().head_hash
    section = html[html.index('id="provenance"'):]
    assert f"<code>{run['run_id']}</code>" in section
    assert f"<code>{head}</code>" in section
    assert hashlib.sha256(customers.read_bytes()).hexdigest() in section
    for model_id, sha in run["models"].items():
        assert f"<code>{model_id}</code></td><td>sha256 <code>{sha}</code>" in section
    assert "the table set that decided is not a published release" in section
    assert "The decision log holds no payment events up to" in _text(html)
    assert np.isclose(run["counts"]["rows_in"], 400)


# Words a Chinese reader meets as they are: grades, metric and test names, the symbols n and
# x of the charts, the product's name.
_KEPT = {"AAA", "AA", "A", "B", "C", "AUC", "KS", "Gini", "ROC", "PSI", "CSI", "PD", "SHA",
         "sha", "Wilson", "Kolmogorov-Smirnov", "n", "x", "gridcredit"}


def _english(text: str, identifiers: set[str]) -> set[str]:
    """The runs of Latin letters in ``text`` that are neither kept words nor identifiers
    (command-line options, ISO times and survey periods are identifiers too)."""
    text = re.sub(r"--[a-z][a-z-]*|\d{4}-\d\d-\d\dT[\d:.+]+|\d{4}-Q\d", " ", text)
    for ident in sorted(identifiers, key=len, reverse=True):
        text = text.replace(ident, " ")
    return {w for w in re.findall(r"[A-Za-z][A-Za-z-]*", text) if w.strip("-") not in _KEPT}


def test_the_chinese_report_has_no_english_left(engine, decided, tmp_path, monkeypatch):
    population, customers, decisions, labels = decided
    if charts.cjk_font() is None:
        pytest.skip("no CJK font: the charts would be labelled in English")
    drawn: list[str] = []
    real_png = charts._png

    def recording(fig):
        drawn.extend(t.get_text() for t in fig.findobj(Text))
        return real_png(fig)

    monkeypatch.setattr(charts, "_png", recording)
    sensitivity = pd.DataFrame({"group": ["payment behaviour", "payment behaviour"],
                                "shock": ["+1 sd", "10 %"], "before": [0.04, 0.04],
                                "after": [0.05, 0.045]})
    surveys = validate_surveys(synth.generate_surveys(decisions, "2026-Q3"))[0]
    db = str(tmp_path / "log.sqlite")
    open_log(db).close()
    with open_log(db, create=False) as log:
        further = audit_inputs(engine, decisions, customers=customers, log=log)
    further["service_quality"] = evaluate(surveys, decisions,
                                          policies=["fast_response_service", "on_site_service"])
    html = build_report(decisions, labels=labels, sensitivity=sensitivity, created_at=CREATED,
                        versions=engine.versions(), lang="zh-CN",
                        languages=engine.explainer.languages,
                        policy_titles={p.id: p.title for p in engine.catalogue}, **further)
    body = re.sub(r"<style>.*?</style>|<code>.*?</code>", " ", html, flags=re.S)
    text = _text(body).replace("&amp;", "&")
    identifiers = ({str(v) for v in decisions["override"].dropna()} | set(engine.registry.models)
                   | {t.name for t in engine.tables.tables} | {db, str(tmp_path)}
                   | {"gridcredit service-quality"})
    assert _english(text, identifiers) == set()
    for english in ("+1 sd", "shock", " pp", "engine version", "tables /", "models /"):
        assert english not in text
    for policy in engine.catalogue:
        assert policy.id not in text
    assert _english(" ".join(drawn), identifiers) == set()
    assert "冲击：" + engine.explainer.languages.get("zh-CN").gettext("+1 standard deviation") \
        in drawn
