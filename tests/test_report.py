"""The auditor report: its numbers, its refusals and the self-contained HTML it writes."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from engine.errors import ConfigError, FrameError, InputError
from engine.report import charts
from engine.report.html import build_report, write_report
from engine.report.inputs import DECISION_COLUMNS, check_sensitivity, labels_from
from engine.report.measures import default_rate_by_grade, policy_counts, roc_ks, wilson_interval
from tests.reportdata import (
    CREATED,
    EDGES,
    REJECTS,
    VERSIONS,
    make_decisions,
    sensitivity_frame,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def population() -> tuple[pd.DataFrame, pd.Series]:
    return make_decisions()


@pytest.fixture(scope="module")
def full_report(population) -> str:
    decisions, labels = population
    return build_report(decisions, labels=labels, rejects=REJECTS,
                        sensitivity=sensitivity_frame(), versions=VERSIONS, created_at=CREATED)


@pytest.fixture(scope="module")
def plain_report(population) -> str:
    decisions, _ = population
    return build_report(decisions, created_at=CREATED)


def images(html: str) -> list[bytes]:
    return [base64.b64decode(b64) for b64 in
            re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


# ---------------------------------------------------------------------------- metrics


def test_roc_ks_small_case_by_hand():
    # scores 0.9 (1), 0.8 (0), 0.7 (1), 0.1 (0): 3 of 4 pairs ranked right.
    curve = roc_ks(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0]))
    assert curve.auc == pytest.approx(0.75)
    assert curve.gini == pytest.approx(0.5)
    assert curve.ks == pytest.approx(0.5)
    assert curve.ks_threshold == pytest.approx(0.9)
    assert curve.tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert curve.fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.booleans()), min_size=2, max_size=80)
       .filter(lambda rows: 0 < sum(y for _, y in rows) < len(rows)))
def test_roc_auc_matches_scikit_learn_with_ties(rows):
    scores = np.array([s / 20 for s, _ in rows])
    labels = np.array([int(y) for _, y in rows])
    curve = roc_ks(scores, labels)
    assert curve.auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    # KS is the largest gap between the two groups' survival functions.
    gaps = [(scores[labels == 1] >= t).mean() - (scores[labels == 0] >= t).mean()
            for t in np.unique(scores)]
    assert curve.ks == pytest.approx(max(max(gaps), 0.0), abs=1e-12)


def test_roc_refuses_one_outcome():
    with pytest.raises(InputError, match=r"labels hold only one outcome \(0 defaults, 3 non"):
        roc_ks(np.array([0.1, 0.2, 0.3]), np.array([0, 0, 0]))


def test_wilson_interval_known_values():
    low, high = wilson_interval(np.array([5, 0, 0]), np.array([100, 20, 0]))
    # Wilson 95 % for 5/100 is [0.0215, 0.1118]; 0/20 is [0, 0.1611]; no customers: [0, 1].
    assert low == pytest.approx([0.02154, 0.0, 0.0], abs=1e-4)
    assert high == pytest.approx([0.11175, 0.16113, 1.0], abs=1e-4)


def test_default_rate_by_grade_counts_and_order():
    grades = pd.Series(["C", "AAA", "AAA", "C", "B", "AAA"])
    pds = pd.Series([0.3, 0.005, 0.007, 0.5, 0.1, 0.006])
    labels = pd.Series([1, 0, 0, 0, 1, 1])
    table = default_rate_by_grade(grades, pds, labels)
    assert table["grade"].tolist() == ["AAA", "B", "C"]
    assert table["customers"].tolist() == [3, 1, 2]
    assert table["defaults"].tolist() == [1, 1, 1]
    assert table["observed"].tolist() == pytest.approx([1 / 3, 1.0, 0.5])
    assert table["mean_pd"].tolist() == pytest.approx([0.006, 0.1, 0.4])
    assert (table["low"] <= table["observed"]).all() and (table["observed"] <= table["high"]).all()


def test_policy_counts_split_the_joined_column():
    frame = pd.DataFrame({
        "policies": ["a;b", "", None, "b", " a ; c "],
        "consumption_class": ["large", "large", "small", "small", "large"],
        "grade": ["AAA", "C", "C", "B", "AAA"],
    })
    counts = policy_counts(frame)
    got = {(r.policy, r.segment, r.grade): r.customers for r in counts.itertuples()}
    assert got == {("a", "large", "AAA"): 2, ("b", "large", "AAA"): 1,
                   ("b", "small", "B"): 1, ("c", "large", "AAA"): 1}


# ---------------------------------------------------------------------------- charts


def test_every_chart_is_a_png():
    pngs = [
        charts.grade_distribution_chart({"AAA": 3, "AA": 0, "C": 1}),
        charts.pd_histogram_chart(np.array([0.001, 0.02, 0.3]),
                                  np.array(["residential", "public", "residential"]), EDGES),
        charts.policy_counts_chart(pd.DataFrame(columns=["policy", "segment", "grade",
                                                         "customers"]), "value_tier"),
        charts.sensitivity_chart(sensitivity_frame()),
    ]
    assert all(p.startswith(PNG_MAGIC) and len(p) > 2_000 for p in pngs)


def test_charts_are_reproducible():
    frame = sensitivity_frame()
    assert charts.sensitivity_chart(frame) == charts.sensitivity_chart(frame)


# ---------------------------------------------------------------------------- the report


def test_report_is_self_contained(full_report):
    assert full_report.startswith("<!DOCTYPE html>")
    assert "<script" not in full_report
    assert not re.search(r'(src|href)="(?!data:image/png;base64,)', full_report)
    assert "http://" not in full_report and "https://" not in full_report


def test_report_embeds_all_seven_charts(full_report):
    pngs = images(full_report)
    assert len(pngs) == 7
    assert all(p.startswith(PNG_MAGIC) for p in pngs)
    for chart_id in ("grades", "pd-by-class", "roc-ks", "calibration", "policies",
                     "sensitivity", "disparity"):
        assert f'<figure id="chart-{chart_id}">' in full_report


def test_report_summary_counts(population, full_report):
    decisions, labels = population
    # 600 decided + 3 distinct rejected rows (row 9 has two problems).
    assert re.search(r'<div class="v">603</div><div class="k">rows in', full_report)
    assert re.search(r'<div class="v">600</div><div class="k">decided', full_report)
    assert re.search(r'<div class="v">3</div><div class="k">rejected', full_report)
    overridden = int(decisions["override"].notna().sum())
    assert f'<div class="v">{overridden}</div><div class="k">grade overrides' in full_report
    for grade, n in decisions["grade"].value_counts().items():
        assert f'<tr><td>{grade}</td><td class="n">{n:,}</td>' in full_report
    auc = roc_auc_score(labels, decisions["pd"])
    assert f'<div class="v">{auc:.3f}</div><div class="k">AUC' in full_report


def test_report_policy_table(engine, population, full_report):
    decisions, _ = population
    inspected = decisions["policies"].str.contains("on_site_inspection").sum()
    assert re.search(rf'<td title="on_site_inspection">on_site_inspection</td><td class="n">'
                     rf"{inspected:,}<", full_report)
    # With the catalogue's titles, each policy is named by its title, its id kept as a tip.
    titled = build_report(decisions, created_at=CREATED,
                          policy_titles={p.id: p.title for p in engine.catalogue})
    assert re.search(rf'<td title="on_site_inspection">On-site inspection with fee collection'
                     rf'</td><td class="n">{inspected:,}<', titled)


def test_report_rejects_versions_and_sensitivity(full_report):
    assert "Rows rejected: 3; problems: 4, of 2 distinct kinds." in full_report
    assert ("<td><code>monthly_kwh</code></td><td>must be a number &gt;= 0 (kWh/month)</td>"
            '<td class="n">3</td><td>R1</td>') in full_report
    assert ("<td>table version <code>service-policies</code></td><td><code>2026.12.1</code>"
            "</td>") in full_report
    assert ("<td>model SHA-256 <code>lda-residential</code></td><td><code>" + "cd" * 32
            ) in full_report
    assert '<td>table set hash</td><td><code>sha256:' + "ab" * 32 in full_report
    assert ("<td>payment behaviour</td><td>30 %</td><td class=\"n\">0.5000</td>"
            "<td class=\"n\">0.6000</td><td class=\"n\">0.1000</td>") in full_report
    assert f"Generated {CREATED} by gridcredit" in full_report


def test_report_without_labels_says_so(plain_report):
    html = plain_report
    assert 'id="no-outcomes"' in html and "No observed outcomes were supplied" in html
    assert 'id="no-sensitivity"' in html
    assert "No rejects file was supplied." in html
    assert len(images(html)) == 4
    assert 'id="chart-roc-ks"' not in html


def test_report_with_sensitivity_png_only(population, tmp_path):
    decisions, _ = population
    png = tmp_path / "sensitivity.png"
    png.write_bytes(charts.sensitivity_chart(sensitivity_frame()))
    html = build_report(decisions, sensitivity_png=png, segment="value_tier", created_at=CREATED)
    sensitivity = html[html.index('<figure id="chart-sensitivity">'):]
    assert images(sensitivity)[0] == png.read_bytes()
    assert "one panel per value tier" in html
    (tmp_path / "not.png").write_text("hello")
    with pytest.raises(InputError, match=r"not\.png: not a PNG image"):
        build_report(decisions, sensitivity_png=tmp_path / "not.png")


def test_report_escapes_hostile_text(population):
    decisions, _ = population
    decisions = decisions.head(50).copy()
    decisions.loc[decisions.index[0], "override"] = "<img src=x onerror=alert(1)>"
    rejects = REJECTS.assign(reason="<script>alert('x')</script>")
    html = build_report(decisions, rejects=rejects, title="Q4 <b>run</b>",
                        versions={"note": '"><script>'}, created_at=CREATED)
    assert "<script" not in html and "<b>run" not in html and "onerror=alert(1)>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<title>Q4 &lt;b&gt;run&lt;/b&gt;</title>" in html


def test_report_refuses_missing_columns_with_suggestion(population):
    decisions, _ = population
    with pytest.raises(FrameError, match=r"lacks column\(s\) 'grade' \(did you mean 'grades'\?\)"):
        build_report(decisions.rename(columns={"grade": "grades"}))
    assert len(DECISION_COLUMNS) == 17


def test_report_refuses_bad_values(population):
    decisions, labels = population
    bad_pd = decisions.copy()
    bad_pd.loc[bad_pd.index[4], "pd"] = 1.5
    with pytest.raises(FrameError, match=r"'pd' must hold numbers in \[0, 1\]; 1 row\(s\) do not, "
                                         r"first at index 4 \(customer 'C00000005', pd = 1.5\)"):
        build_report(bad_pd)
    bad_grade = decisions.assign(grade="D")
    with pytest.raises(FrameError, match=r"column 'grade' holds 'D', not a grade"):
        build_report(bad_grade)
    with pytest.raises(InputError, match=r"labels: 10 of 600 decided customers have no observed"):
        build_report(decisions, labels=labels.iloc[10:])
    with pytest.raises(InputError, match=r"labels must be 0 \(no default\) or 1 .*found 2"):
        build_report(decisions, labels=labels.replace({1: 2}))
    with pytest.raises(InputError, match=r"unknown segment 'value_teir' \(did you mean "
                                         r"'value_tier'\?\)"):
        build_report(decisions, segment="value_teir")
    with pytest.raises(FrameError, match=r"sensitivity lacks column\(s\) 'after'"):
        build_report(decisions, sensitivity=sensitivity_frame().drop(columns="after"))


def test_missing_template_names_the_folder(population, tmp_path):
    decisions, _ = population
    with pytest.raises(ConfigError, match=rf"{tmp_path}: report template 'report.html.j2' "
                                          r"not found"):
        build_report(decisions, templates_dir=tmp_path)


def test_write_report_keeps_existing_files(population, plain_report, tmp_path):
    decisions, _ = population
    target = tmp_path / "out" / "report.html"
    assert write_report(target, decisions, created_at=CREATED) == target
    assert target.read_text(encoding="utf-8") == plain_report
    with pytest.raises(InputError, match=r"report\.html: file exists; use --overwrite"):
        write_report(target, decisions)
    small = decisions.head(40)
    write_report(target, small, overwrite=True, created_at=CREATED)
    assert '<div class="v">40</div><div class="k">decided' in target.read_text(encoding="utf-8")
    assert not list(tmp_path.glob("out/*.partial"))


def analysed_table() -> pd.DataFrame:
    """A table shaped like ``engine.modelops.sensitivity.analyse(...).table``."""
    rows = []
    for group, weight in (("payment behaviour", 0.020), ("social credit", 0.004)):
        for shock, size in (("+1 sd", 1.0), ("10 %", 0.1), ("20 %", 0.2), ("30 %", 0.3)):
            after = 0.04 + weight * size
            rows.append({"group": group, "shock": shock, "indicators": "a, b",
                         "mean_pd_before": 0.04, "mean_pd_after": after,
                         "change_pp": (after - 0.04) * 100, "relative_change": after / 0.04 - 1,
                         "customers_affected": int(1000 * size), "downgraded": 0.1 * size,
                         "upgraded": 0.0})
    return pd.DataFrame(rows)


def test_report_takes_the_sensitivity_analysis_result(population):
    from engine.modelops import SensitivityResult

    decisions, _ = population
    result = SensitivityResult(analysed_table(), pd.DataFrame())
    html = build_report(decisions.head(60), sensitivity=result, created_at=CREATED)
    assert "<th>mean PD before</th><th>mean PD after</th><th>change</th>" in html
    assert "<th>customers whose PD moved</th><th>downgraded</th><th>upgraded</th>" in html
    # payment behaviour, 30 %: 4.00 % -> 4.60 %, +0.60 points, 300 moved, 3.0 % downgraded.
    assert ('<td>payment behaviour</td><td>30 %</td><td class="n">4.00 %</td>'
            '<td class="n">4.60 %</td><td class="n">0.60 percentage points</td>'
            '<td class="n">300</td><td class="n">3.0 %</td><td class="n">0.0 %</td>') in html
    # The bare table reads the same as the result that carries it.
    from_table, is_pd = check_sensitivity(analysed_table())
    assert is_pd and from_table[["before", "after"]].equals(
        check_sensitivity(result)[0][["before", "after"]])


def test_labels_from_matches_on_customer_id(population):
    decisions, labels = population
    pop = pd.DataFrame({"customer_id": decisions["customer_id"], "default_12m": labels})
    shuffled = decisions.iloc[::-1].reset_index(drop=True)
    matched = labels_from(shuffled, pop.sample(frac=1.0, random_state=1))
    assert matched.tolist() == labels.iloc[::-1].tolist()
    with pytest.raises(InputError, match=r"no 'default_12m' for 1 decided customer\(s\), "
                                         r"first 'C00000001'"):
        labels_from(decisions, pop.iloc[1:])
    with pytest.raises(FrameError, match=r"customer_id 'C00000001' appears more than once"):
        labels_from(decisions, pd.concat([pop, pop.head(1)]))
    with pytest.raises(FrameError, match=r"labelled population lacks column\(s\) 'default_12m'"):
        labels_from(decisions, pop.drop(columns="default_12m"))


def test_report_of_no_decisions_still_renders(population, recwarn):
    decisions, _ = population
    html = build_report(decisions.head(0), created_at=CREATED)
    assert '<div class="v">0</div><div class="k">decided' in html
    assert "No policy was assigned to any decided customer." in html
    assert len(images(html)) == 4
    assert not [w for w in recwarn if "legend" in str(w.message)]
