"""The durable-rules adapter: lock, sessions, catch-all and ranks, pinned on the engine."""

from __future__ import annotations

import copy
import threading
from pathlib import Path

from durable import engine as durable_engine
from hypothesis import given
from hypothesis import strategies as st

from engine.events.rules import RuleMatcher, load_event_rules
from engine.policies import load_catalogue
from engine.rulehost import ALWAYS, LOCK, SEEN, RuleHost, build_definition, rank
from engine.tables import load_table_set

ROOT = Path(__file__).resolve().parents[1]
# kwh above 1000 -> rule 0; kwh above 5000 -> rule 1; class "industrial" -> rule 2
RULES = {"t": {0: {"$gt": {"kwh": 1000}}, 1: {"$gt": {"kwh": 5000}},
               2: {"klass": "industrial"}}}


def test_definition_has_one_rule_per_condition_and_the_catch_all():
    definition = build_definition(RULES)
    assert sorted(definition["t"]) == ["r0", "r1", "r2", SEEN]
    assert definition["t"][SEEN] == {"all": [{"m": {"$gte": {ALWAYS: 1}}}], "run": "t#-1"}
    assert definition["t"]["r1"] == {"all": [{"m": {"$gt": {"kwh": 5000}}}], "run": "t#1"}


def test_fire_reports_rule_and_fact_of_each_firing():
    host = RuleHost(RULES)
    facts = [{"kwh": 6000, "klass": "industrial"}, {"kwh": 10, "klass": "home"},
             {"kwh": 2000, "klass": "home"}]
    assert host.fire("t", facts) == [(0, 0), (1, 0), (2, 0), (0, 2)]
    assert host.fire("t", [facts[0]]) == [(0, 0), (1, 0), (2, 0)]
    assert host.fire("t", []) == []
    assert (host.sessions, host.asserted) == (2, 4)


def test_a_fact_no_rule_matches_is_handled_and_its_session_deleted():
    host = RuleHost(RULES)
    for _ in range(1_100):  # would exhaust the 1,024 sessions if the state stayed
        assert host.fire("t", [{"kwh": 1, "klass": "home"}]) == []
    assert not any(host.has_state("t", str(sid)) for sid in range(1, 1_101))


def test_more_sequential_sessions_than_durable_rules_keeps_live_leave_no_state():
    host = RuleHost(RULES)
    same = {"kwh": 3000, "klass": "home"}  # identical every time: a reused sid would refuse it
    for _ in range(1_500):
        assert host.fire("t", [same]) == [(0, 0)]
    assert host.sessions == 1_500
    assert not any(host.has_state("t", str(sid)) for sid in range(1, 1_501))


class _Recorder(durable_engine.Host):
    def __init__(self) -> None:
        self.fired: list[str] = []
        super().__init__()

    def get_action(self, action_name: str):
        return lambda _closure: self.fired.append(action_name)


def test_a_deleted_session_can_be_reused_with_the_same_fact():
    """What the adapter relies on: delete_state frees the session entirely."""
    host = _Recorder()
    host.set_rulesets(copy.deepcopy(build_definition({"u": {0: {"$gt": {"kwh": 1000}}}})))
    fact = {"sid": "7", "kwh": 2000, ALWAYS: 1, "ref__": 0}
    for _ in range(3):
        host.assert_fact("u", fact)
        host.delete_state("u", "7")
    assert host.fired.count("u#0") == 3
    host.assert_fact("u", fact)
    try:
        host.assert_fact("u", fact)
        raise AssertionError("an identical fact in a live session must be refused")
    except durable_engine.MessageObservedException:
        pass
    host.delete_state("u", "7")


def test_two_hosts_reuse_the_same_sids_independently():
    a = RuleHost(RULES)
    b = RuleHost({"t": {0: {"klass": "home"}}})
    for _ in range(50):
        assert a.fire("t", [{"kwh": 2000, "klass": "home"}]) == [(0, 0)]
        assert b.fire("t", [{"kwh": 2000, "klass": "industrial"}]) == []
        assert b.fire("t", [{"kwh": 2000, "klass": "home"}]) == [(0, 0)]
    assert (a.sessions, b.sessions) == (50, 100)


def test_tables_and_event_rules_wait_for_the_one_process_wide_lock():
    tables = load_table_set(ROOT / "rules", load_catalogue(ROOT / "policies" / "catalogue.yaml"))
    matcher = RuleMatcher(load_event_rules(ROOT / "rules" / "events.yaml"))
    host = RuleHost(RULES)
    done: list[str] = []

    def decide() -> None:
        tables.decide({"customer_class": "residential", "monthly_kwh": 200.0, "pd": 0.01},
                      executor="durable")
        done.append("table")

    def events() -> None:
        matcher.match([{"kind": "theft_finding", "days_since": 1}])
        done.append("events")

    def plain() -> None:
        host.fire("t", [{"kwh": 2000}])
        done.append("host")

    with LOCK:
        threads = [threading.Thread(target=f) for f in (decide, events, plain)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(0.3)
        assert done == []
    for t in threads:
        t.join(30)
    assert sorted(done) == ["events", "host", "table"]


def test_threads_on_several_hosts_are_exact():
    hosts = [RuleHost(RULES), RuleHost(RULES)]
    expected = [[(0, 0)] if k % 3 == 0 else [] for k in range(300)]
    got: dict[int, list] = {}

    def work(n: int) -> None:
        host = hosts[n % 2]
        got[n] = [host.fire("t", [{"kwh": 2000 if k % 3 == 0 else 10, "klass": "home"}])
                  for k in range(300)]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(got[n] == expected for n in range(4))


_NUMBERS = st.floats(-1e6, 1e6, allow_nan=False) | st.sampled_from([0.0, 1e-05, 0.5, 1.0])


@given(st.lists(_NUMBERS, max_size=8, unique=True), _NUMBERS)
def test_ranks_compare_as_the_numbers_do(thresholds, value):
    scale = sorted(thresholds)
    r = rank(scale, value)
    for t in scale:
        rt = rank(scale, t)
        assert rt % 2 == 1
        assert (value < t, value <= t, value == t, value > t, value >= t) == (
            r < rt, r <= rt, r == rt, r > rt, r >= rt)
