"""Running tables: hit policies, null semantics, the three executors held to equal results."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import synth
from engine.errors import DecisionError
from engine.facts import frame_facts
from engine.policies import load_catalogue
from engine.recordframe import validate_frame
from engine.records import vocabulary
from engine.tables import load_table_set
from engine.tables.analysis import regions

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = load_catalogue(ROOT / "policies" / "catalogue.yaml")
SHIPPED = load_table_set(ROOT / "rules", CATALOGUE)
HITS = load_table_set(ROOT / "tests" / "data" / "tables" / "hitpolicies", CATALOGUE)

BASE = {"pd": 0.05, "previous_grade": "A", "critical_load": False, "monthly_kwh": 500.0,
        "customer_class": "residential", "overdue_amount": 0.0, "habitual_defaulter": False}


def both(ts, facts):
    """Decide one customer through all three executors; they must agree exactly."""
    one = ts.decide(facts, executor="durable")
    assert ts.decide(facts, executor="compiled") == one
    row = ts.row_result(ts.decide_frame(pd.DataFrame([facts])), 0)
    assert row == one
    return one


def per_row(ts, facts, executor):
    try:
        return ts.decide(facts, executor=executor)
    except DecisionError as exc:
        return exc.message


# --------------------------------------------------------------------------- hit policies

def test_unique_with_two_matches_names_both_rules():
    facts = {**BASE, "pd": 0.5}
    for executor in ("compiled", "durable"):
        with pytest.raises(DecisionError, match=r"unique.*several rules match: 'middle' \(.*"
                           r"all\.yaml:14\), 'high'"):
            HITS.decide(facts, executor=executor)
    with pytest.raises(DecisionError, match=r"several rules match: 'middle'.*'high'"):
        HITS.decide_frame(pd.DataFrame([facts]))


def test_unique_copies_an_input_with_from():
    result = both(HITS, {**BASE, "pd": 0.01, "previous_grade": "AA"})
    assert result.outputs["grade"] == "AA"
    assert result.fired[0].rule_id == "keep-previous"
    assert result.fired[0].sets == {"grade": "AA"}


def test_priority_takes_the_highest_priority():
    result = both(HITS, {**BASE, "critical_load": True, "monthly_kwh": 5000.0})
    assert result.outputs["value_tier"] == "standard"
    assert [h.rule_id for h in result.fired if h.table == "tier"] == ["critical"]


def test_any_accepts_agreeing_rules_and_refuses_disagreeing_ones():
    agree = both(HITS, {**BASE, "customer_class": "industrial", "monthly_kwh": 5000.0})
    assert agree.outputs["consumption_class"] == "large"
    assert [h.rule_id for h in agree.fired if h.table == "size"] == ["heavy", "industry"]
    for executor in ("compiled", "durable"):
        with pytest.raises(DecisionError, match="any.*disagree.*'industry'.*'tiny-industry'"):
            HITS.decide({**BASE, "customer_class": "industrial", "monthly_kwh": 5.0},
                        executor=executor)
    with pytest.raises(DecisionError, match="disagree"):
        HITS.decide_frame(pd.DataFrame([{**BASE, "customer_class": "industrial",
                                         "monthly_kwh": 5.0}]))


def test_collect_keeps_file_order_dedupes_and_merges_params():
    result = both(HITS, {**BASE, "overdue_amount": 10.0, "habitual_defaulter": True,
                         "monthly_kwh": 5000.0})
    collection = [p for p in result.policies if p.table == "collection"]
    assert [p.policy_id for p in collection] == [
        "default_liability_notice", "late_payment_penalty", "security_deposit",
        "fast_response_service"]
    penalty = next(p for p in result.policies if p.policy_id == "late_payment_penalty")
    assert penalty.rule_id == "owes"
    assert penalty.params == {"daily_rate_residential": 0.001, "daily_rate_current_year": 0.002,
                              "daily_rate_earlier_years": 0.003, "minimum_charge": 5}
    assert penalty.line == 94  # the policy item, not the rule


def test_no_match_leaves_the_output_null():
    result = both(HITS, {**BASE, "pd": 0.01, "previous_grade": None,
                         "customer_class": "public"})
    assert result.outputs["grade"] is None
    assert result.outputs["consumption_class"] is None


# --------------------------------------------------------------------------- nulls

@pytest.mark.parametrize("field", ["previous_grade", "habitual_defaulter"])
def test_conditions_on_null_are_false_even_ne_and_not_in(field):
    facts = {**BASE, field: None}
    result = both(HITS, facts)
    fired = {h.rule_id for h in result.fired}
    rule = {"previous_grade": "not-c-before", "habitual_defaulter": "not-habitual"}[field]
    assert rule not in fired
    assert rule in {h.rule_id for h in both(HITS, BASE).fired}


def test_nan_counts_as_null():
    result = both(HITS, {**BASE, "overdue_amount": float("nan"), "pd": float("nan")})
    assert "owes" not in {h.rule_id for h in result.fired}
    assert result.outputs["grade"] is None


# --------------------------------------------------------------------------- durable-rules

def test_more_decisions_than_live_sessions_allowed():
    """durable-rules allows 1,024 live sids; state is deleted after each decision."""
    results = {HITS.decide({**BASE, "pd": (i % 100) / 100}, executor="durable").outputs["grade"]
               for i in range(1100) if (i % 100) != 50}
    assert results == {"A", "B", "C"}


@pytest.mark.parametrize("executor", ["durable", "compiled"])
def test_threads_share_one_executor_safely(executor):
    extra = {"service_quality_gap": 0.0, "theft_override_active": False,
             "theft_incidents_36m": 0, "months_connected": 60, "has_repayment_agreement": False,
             "max_days_overdue_12m": 40, "rebate_earned": False}
    facts = [{**BASE, **extra, "monthly_kwh": float(k), "overdue_amount": float(k % 3)}
             for k in range(200)]
    expected = [SHIPPED.decide(f, executor="durable") for f in facts]
    got: dict[int, list] = {}

    def work(k: int) -> None:
        got[k] = [SHIPPED.decide(f, executor=executor) for f in facts]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(got[k] == expected for k in range(4))


# --------------------------------------------------------------------------- differential

def _edge_values(ts) -> dict[str, list]:
    """Per input field: every region's representative, each threshold's neighbours, null."""
    vocab = vocabulary()
    produced = set(ts.outputs)
    thresholds: dict[str, list] = {}
    for t in ts.tables:
        for r in t.rules:
            for c in r.when:
                thresholds.setdefault(c.field, []).extend(
                    c.value if isinstance(c.value, tuple) else (c.value,))
    values = {}
    for t in ts.tables:
        for name in t.reads:
            if name in produced or name in values:
                continue
            spec = vocab[name]
            vals = [v for v, _ in regions(spec, thresholds.get(name, ()))]
            if spec.kind in ("int", "float"):
                for x in thresholds.get(name, ()):
                    step = 1 if spec.kind == "int" else None
                    vals += [x - 1, x + 1] if step else [np.nextafter(x, -np.inf),
                                                         np.nextafter(x, np.inf)]
                vals = [float(v) if spec.kind == "float" else int(v) for v in vals
                        if v is not None]
            values[name] = [*dict.fromkeys(vals), None]
    return values


def _differential(ts, rows):
    """durable-rules is the reference; compiled (per row) and vectorised must equal it."""
    frame = pd.DataFrame(rows)
    reference = [per_row(ts, facts, "durable") for facts in rows]
    assert [per_row(ts, facts, "compiled") for facts in rows] == reference
    per_row_results = [r if not isinstance(r, str) else None for r in reference]
    _vectorised_agrees(ts, rows, frame, per_row_results)


def _vectorised_agrees(ts, rows, frame, per_row):
    try:
        batch = ts.decide_frame(frame)
    except DecisionError:
        assert any(r is None for r in per_row)
        for facts, expected in zip(rows, per_row, strict=True):
            try:
                got = ts.row_result(ts.decide_frame(pd.DataFrame([facts])), 0)
            except DecisionError:
                got = None
            assert got == expected
        return
    assert all(r is not None for r in per_row)
    for i, expected in enumerate(per_row):
        assert ts.row_result(batch, i) == expected


def _value(spec, edges):
    """An edge value, or for a number field any value of its range."""
    picks = st.sampled_from(edges)
    if spec.kind == "float":
        lo = -1e6 if spec.ge is None else spec.ge
        hi = 1e6 if spec.le is None else spec.le
        return st.one_of(picks, st.floats(lo, hi, allow_nan=False))
    if spec.kind == "int":
        lo = -1000 if spec.ge is None else int(spec.ge)
        hi = 1000 if spec.le is None else int(spec.le)
        return st.one_of(picks, st.integers(lo, hi))
    return picks


def _population(ts):
    values = _edge_values(ts)
    vocab = vocabulary()
    row = st.fixed_dictionaries({k: _value(vocab[k], v) for k, v in values.items()})
    return st.lists(row, min_size=1, max_size=25)


@pytest.mark.parametrize("ts", [HITS, SHIPPED], ids=["hitpolicies", "shipped"])
def test_executors_agree_at_every_edge_of_every_field(ts):
    """Each field through every threshold, its neighbours and null, the others held."""
    values = _edge_values(ts)
    base = {k: v[0] for k, v in values.items()}
    rows = [{**base, name: v} for name, options in values.items() for v in options]
    assert len(rows) > 40
    _differential(ts, rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_population(HITS))
def test_executors_agree_for_every_hit_policy(rows):
    _differential(HITS, rows)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_population(SHIPPED))
def test_executors_agree_on_the_shipped_tables(rows):
    _differential(SHIPPED, rows)


# --------------------------------------------------------------------------- shipped behaviour

def facts_frame(n: int, seed: int = 3) -> pd.DataFrame:
    """Synthetic customers as the tables see them: validated, derived facts, a drawn PD."""
    frame = frame_facts(validate_frame(synth.generate(n, seed=seed))[0])
    frame["pd"] = np.random.default_rng(seed).beta(0.6, 12, n)
    return frame


def test_shipped_tables_on_a_population():
    frame = facts_frame(20_000)
    out = SHIPPED.decide_frame(frame)
    pols = out["policies"]
    assert out["grade"].notna().all()
    assert out["consumption_class"].notna().all() and out["value_tier"].notna().all()
    has = lambda p: pols.map(lambda ids, p=p: p in ids)  # noqa: E731
    critical = frame["critical_load"].to_numpy()
    assert not (has("supply_cut_warning") & has("protected_supply")).any()
    assert not has("supply_cut_warning")[critical].any()
    assert has("priority_repair_channel")[critical].all()
    assert has("emergency_response_plan")[critical].all()
    top_large = out["grade"].isin(["AAA", "AA"]) & (out["consumption_class"] == "large")
    assert top_large.any() and has("no_price_concession")[top_large].all()
    assert has("overdue_rebate")[frame["rebate_earned"]].all()
    owes = frame["overdue_amount"] > 0
    assert has("default_liability_notice")[owes].all() and has("late_payment_penalty")[owes].all()
    high_value = out["value_tier"] == "high"
    for p in ("dedicated_account_manager", "on_site_service", "pre_outage_negotiation",
              "priority_repair_channel", "emergency_response_plan"):
        assert has(p)[high_value].all()
    assert has("security_deposit")[out["grade"] == "C"].all()
    theft = frame["theft_override_active"]
    assert theft.any() and (out["grade"][theft] == "C").all()
    arrears = owes & ~frame["has_repayment_agreement"]
    assert not (out["grade"][arrears] == "AAA").any()
    assert not out["grade"][frame["months_connected"] < 12].isin(["AAA", "AA"]).any()
    assert not out["grade"][frame["previous_grade"] == "C"].isin(["AAA", "AA", "A"]).any()


def test_late_payment_rates_by_class():
    common = {"grade": "B", "value_tier": "standard", "consumption_class": "average",
              "outage_sensitivity": "normal", "critical_load": False, "overdue_amount": 80.0,
              "max_days_overdue_12m": 40, "habitual_defaulter": False, "rebate_earned": False,
              "theft_incidents_36m": 0, "theft_override_active": False}
    table = [SHIPPED.table("service-policies")]
    home = SHIPPED.decide({**common, "customer_class": "residential"}, tables=table)
    shop = SHIPPED.decide({**common, "customer_class": "commercial"}, tables=table)
    rate = {r: next(p.params for p in res.policies if p.policy_id == "late_payment_penalty")
            for r, res in (("home", home), ("shop", shop))}
    assert rate["home"]["daily_rate_current_year"] == 0.001
    assert rate["shop"]["daily_rate_current_year"] == 0.002
    assert rate["shop"]["daily_rate_earlier_years"] == 0.003
    assert rate["home"]["minimum_charge"] == 1.0
    warn = {r: next(p.params for p in res.policies if p.policy_id == "supply_cut_warning")
            for r, res in (("home", home), ("shop", shop))}
    assert (warn["home"]["notice_days"], warn["shop"]["notice_days"]) == (7, 3)


def test_every_decision_carries_version_and_hash():
    result = SHIPPED.decide(facts_frame(1).iloc[0].to_dict())
    assert result.version == SHIPPED.version == "2026.12.0"
    assert result.content_hash == SHIPPED.content_hash
    assert [h.table for h in result.fired][:2] == ["grades", "consumption-class"]


# --------------------------------------------------------------------------- batch encoding

_CLASSES = ["residential", "commercial", "industrial", "public", "farm", None]


@settings(max_examples=40, deadline=None)
@given(picks=st.lists(st.integers(0, len(_CLASSES) - 1), min_size=0, max_size=40),
       dtype=st.sampled_from(["str", "object", "category"]))
def test_batch_encoding_of_text_columns_equals_encode_column(picks, dtype):
    from engine.tables.masks import encode_column
    from engine.tables.vectorised import encode_codes

    spec = vocabulary()["customer_class"]
    series = pd.Series([_CLASSES[i] for i in picks], dtype=object).astype(dtype)
    mentioned = ["residential", "industrial"]
    fast, slow = encode_codes(spec, series, mentioned), encode_column(spec, series, mentioned)
    assert fast.kind == slow.kind == "cat" and fast.codes == slow.codes
    assert fast.values.tolist() == slow.values.tolist()
    if "farm" in series.tolist():
        assert -2 in fast.values.tolist()


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6), st.booleans()), max_size=30),
       kind=st.sampled_from(["monthly_kwh", "critical_load"]))
def test_batch_encoding_of_number_and_flag_columns_equals_encode_column(values, kind):
    from engine.tables.masks import encode_column
    from engine.tables.vectorised import encode_codes

    spec = vocabulary()[kind]
    flags = [v for v in values if isinstance(v, bool)]
    numbers = [v for v in values if v is None or not isinstance(v, bool)]
    for data in (pd.Series(flags, dtype=bool), pd.Series(numbers, dtype=float),
                 pd.Series(values, dtype=object)):
        fast, slow = encode_codes(spec, data, ()), encode_column(spec, data, ())
        np.testing.assert_array_equal(fast.values, slow.values)


@settings(max_examples=40, deadline=None)
@given(rules=st.integers(0, 70), rows=st.integers(0, 60), seed=st.integers(0, 1_000))
def test_combination_codes_group_rows_like_combinations(rules, rows, seed):
    from engine.tables.vectorised import combination_codes, combinations

    masks = np.random.default_rng(seed).random((rules, rows)) < 0.3
    inverse, combos = combination_codes(masks)
    want_inverse, want_combos = combinations(masks)
    assert [combos[i] for i in inverse] == [want_combos[i] for i in want_inverse]
    assert len(set(combos)) == len(combos)


def test_batch_columns_equal_the_per_row_results_on_arrow_text_columns(engine):
    from engine.batch.decide import table_columns
    from engine.pipeline import run_tables

    frame = facts_frame(3_000, seed=9)
    frame["previous_grade"] = frame["previous_grade"].astype("str")
    frame["customer_class"] = frame["customer_class"].astype("category")
    columns = table_columns(engine, run_tables(engine.tables, frame))
    full = SHIPPED.decide_frame(frame)
    for name in ("grade", "consumption_class", "outage_sensitivity", "service_sensitivity",
                 "value_tier"):
        assert list(columns[name]) == full[name].tolist(), name
    assert list(columns["policies"]) == [";".join(p) for p in full["policies"]]
    assert list(columns["grade_rule"]) == [f[0] for f in full["fired:grades"]]


# --------------------------------------------------------------------------- compiled executor

def test_a_rule_the_compiled_executor_cannot_express_is_a_finding_and_refused():
    import dataclasses

    from engine.conditions import Condition
    from engine.tables import TableSet
    from engine.tables.analysis import compiled_findings

    table = SHIPPED.table("value-tier")
    rule = table.rules[0]
    odd = dataclasses.replace(rule, when=(*rule.when, Condition("customer_class", "lt",
                                                                "public", rule.line)))
    broken = dataclasses.replace(table, rules=(odd, *table.rules[1:]))
    ts = TableSet.build([broken], CATALOGUE)
    findings = compiled_findings(ts)
    assert [(f.subject, f.line) for f in findings] == [(rule.id, rule.line)]
    assert "operator 'lt' orders numbers, but 'customer_class' is a category field" in str(
        findings[0])
    with pytest.raises(DecisionError, match=r"table 'value-tier' cannot run on the compiled "
                       rf"executor: rule '{rule.id}' .*decide with the durable executor"):
        ts.decide({"critical_load": True, "monthly_kwh": 1.0, "customer_class": "public"})


def test_compiled_executor_ignores_wrongly_typed_numbers_as_durable_does():
    for facts in ({**BASE, "overdue_amount": True, "monthly_kwh": "5000"},
                  {**BASE, "habitual_defaulter": 1}, {**BASE, "previous_grade": 3}):
        assert HITS.decide(facts) == HITS.decide(facts, executor="durable")
    odd = HITS.decide({**BASE, "overdue_amount": True}, executor="compiled")
    assert "owes" not in {h.rule_id for h in odd.fired}


def test_numpy_scalars_and_missing_values_decide_as_plain_values():
    plain = {**BASE, "overdue_amount": 10.0, "monthly_kwh": 5000.0}
    wrapped = {**plain, "overdue_amount": np.float64(10.0), "monthly_kwh": np.int64(5000),
               "previous_grade": pd.NA}
    assert HITS.decide(wrapped) == HITS.decide({**plain, "previous_grade": None},
                                               executor="durable")
