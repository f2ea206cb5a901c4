"""Rule-change impact: counts agree with deciding twice, every kind of change is shown (rules,
params, catalogue, templates), a candidate with findings is refused, git baselines come from
the project's own repository, and the command's outputs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine import synth
from engine.batch.decide import decide_frame
from engine.batch.impact import compare
from engine.batch.impactrun import run_impact
from engine.batch.rulesource import load_baseline
from engine.cli import app
from engine.config import default_home
from engine.errors import InputError
from engine.tables import load_table_set
from tests.candidates import narrowed_candidate

runner = CliRunner()
RULES = default_home() / "rules"


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    return synth.generate(3_000, seed=12).drop(columns=["default_12m"])


def test_impact_counts_equal_deciding_with_each_set(engine, population, tmp_path):
    cand = load_table_set(narrowed_candidate(tmp_path / "cand"), engine.catalogue)
    impact = compare(engine, engine.tables, cand, population, tariff=0.1)
    before, _ = decide_frame(engine, population)
    after, _ = decide_frame(engine.with_tables(cand), population)
    moved = before["grade"].to_numpy() != after["grade"].to_numpy()
    assert impact.grade_changed == moved.sum() > 0
    assert impact.downgraded == impact.grade_changed and impact.upgraded == 0
    crosstab = pd.crosstab(before["grade"].astype(str), after["grade"].astype(str))
    assert impact.transitions.loc["AAA", "AA"] == crosstab.loc["AAA", "AA"]
    had = before["policies"].astype(str).str.contains("security_deposit")
    has = after["policies"].astype(str).str.contains("security_deposit")
    deposits = impact.policies.set_index("policy").loc["security_deposit"]
    assert (deposits["before"], deposits["after"]) == (had.sum(), has.sum())
    assert deposits["gained"] == (has & ~had).sum() and deposits["lost"] == 0
    rules = impact.rules.set_index("rule")
    assert rules.loc["band-aaa", "change"] == -rules.loc["band-aa", "change"] != 0
    changed = set(before["customer_id"][moved | (has != had)])
    assert set(impact.affected["customer_id"]) == changed
    loss = impact.workload.set_index("measure").loc["expected default loss"]
    assert loss["after"] < loss["before"]
    assert "security_deposit" in impact.markdown()


def test_a_candidate_with_findings_is_refused_unless_allowed(population, tmp_path):
    source = tmp_path / "pop.parquet"
    population.to_parquet(source)
    cand = narrowed_candidate(tmp_path / "cand")  # deposits for B break an example of the table
    out = tmp_path / "impact.html"
    args = ["rules", "impact", "--baseline", str(RULES), "--candidate", str(cand),
            "--population", str(source)]
    refused = runner.invoke(app, [*args, "--out", str(out)])
    assert refused.exit_code == 1
    assert f"candidate {cand}: refused, rules check has 2 finding(s)" in refused.output
    rule = next(n for n, line in enumerate((RULES / "grades.yaml").read_text().splitlines(), 1)
                if line.strip() == "- id: arrears-bar-top-grade")
    assert (f"grades.yaml:{rule}: arrears-bar-top-grade: caps at AA for pd < 0.015"
            in refused.output)
    assert "service-policies.yaml:160: service-policies example 3" in refused.output
    assert "give --allow-findings" in refused.output and not out.exists()
    result = runner.invoke(app, [*args, "--out", str(out), "--allow-findings"])
    assert result.exit_code == 0, result.output
    assert "The candidate has 2 rules check findings" in result.stderr
    assert "change grade" in result.stdout and "impact.html.affected.csv" in result.stdout
    html = out.read_text()
    alarm = html[html.index('<div class="alarm" id="findings">'):html.index("</div>")]
    assert "must not be published" in alarm and "unexpected [&#39;on_site_inspection" in alarm
    assert html.index('id="findings"') < html.index('id="summary"')
    assert "<h2 id=\"transitions\">Grade transitions" in html and "security_deposit" in html
    listed = pd.read_csv(tmp_path / "impact.html.affected.csv", keep_default_na=False)
    assert list(listed.columns) == ["customer_id", "grade_before", "grade_after", "segments",
                                    "gained", "lost", "params"]
    md = tmp_path / "impact.md"
    assert runner.invoke(app, [*args, "--out", str(md), "--allow-findings"]).exit_code == 0
    assert md.read_text().startswith("# Rule-change impact\n\n> **The candidate has 2 rules")
    both = pd.read_csv(tmp_path / "impact.md.affected.csv", keep_default_na=False)
    assert both.equals(listed)
    again = runner.invoke(app, [*args, "--out", str(out), "--allow-findings"])
    assert again.exit_code == 2 and "exists; use --overwrite" in again.output
    bad = runner.invoke(app, [*args, "--out", str(tmp_path / "r.pdf")])
    assert bad.exit_code == 2 and "write the report as .html or .md" in bad.output


def _critical_target(folder: Path, hours: str) -> Path:
    shutil.copytree(RULES, folder)
    policies = folder / "service-policies.yaml"
    text = policies.read_text()
    assert "params: {response_target_hours: 1.0}" in text
    policies.write_text(text.replace("params: {response_target_hours: 1.0}",
                                     f"params: {{response_target_hours: {hours}}}"))
    return folder


def test_a_parameter_only_change_is_shown_with_before_and_after(engine, population, tmp_path):
    source = tmp_path / "pop.csv"
    population.to_csv(source, index=False)
    cand = _critical_target(tmp_path / "cand", "0.5")
    result = runner.invoke(app, ["rules", "impact", "--baseline", str(RULES), "--candidate",
                                 str(cand), "--population", str(source)])
    assert result.exit_code == 0, result.output
    critical = int(population["critical_load"].sum())
    assert critical > 20
    md = result.stdout
    assert (f"0 change grade (0 down, 0 up), {critical} see policy params change, {critical} "
            "affected in all") in md
    assert ("| priority_repair_channel | response_target_hours | 1 hour | 0.5 hours | "
            f"{critical} |") in md
    assert "policy priority_repair_channel param response_target_hours: 1.0 -> 0.5" in md
    assert f"| service-policies | critical-load-protection | {critical} | {critical} | 0 | " \
           f"{critical} |" in md
    assert "No changes" not in md
    impact = compare(engine, engine.tables, load_table_set(cand, engine.catalogue), population)
    moved = impact.affected.set_index("customer_id")["params"]
    one = population[population["critical_load"]].iloc[0]
    record = {k: (None if pd.isna(v) else v) for k, v in one.to_dict().items()}
    after = engine.with_tables(load_table_set(cand, engine.catalogue)).decide(record)
    target = {p.policy_id: p.params for p in after.policies}["priority_repair_channel"]
    assert target["response_target_hours"] == 0.5
    assert moved[one["customer_id"]] == \
        "priority_repair_channel.response_target_hours: 1.0 -> 0.5"
    assert set(moved.index) == set(population.loc[population["critical_load"], "customer_id"])


def test_a_rule_matching_many_but_moving_few_shows_both_counts(engine, population, tmp_path):
    folder = tmp_path / "cand"
    shutil.copytree(RULES, folder)
    policies = folder / "service-policies.yaml"
    text = policies.read_text()
    marker = ("    when: {consumption_class: large}\n    then:\n"
              "      - policy: fast_response_service\n")
    assert marker in text
    policies.write_text(text.replace(marker, marker + "      - policy: pre_outage_negotiation\n"))
    impact = compare(engine, engine.tables, load_table_set(folder, engine.catalogue),
                     population)
    before, _ = decide_frame(engine, population)
    large = before["consumption_class"].eq("large").to_numpy()
    had = before["policies"].astype(str).str.contains("pre_outage_negotiation").to_numpy()
    rule = impact.rules.set_index("rule").loc["large-fast-response"]
    assert (rule["before"], rule["after"], rule["change"]) == (large.sum(), large.sum(), 0)
    assert rule["outcome_changed"] == (large & ~had).sum()
    assert 0 < rule["outcome_changed"] < rule["after"] / 4
    assert impact.policies.set_index("policy").loc["pre_outage_negotiation", "gained"] == \
        (large & ~had).sum()
    assert list(impact.rules["rule"]) == ["large-fast-response"]
    md = impact.markdown()
    assert (f"| service-policies | large-fast-response | {large.sum()} | {large.sum()} | 0 | "
            f"{(large & ~had).sum()} |") in md


def test_segment_changes_are_counted_as_deciding_twice_does(engine, population, tmp_path):
    folder = tmp_path / "cand"
    shutil.copytree(RULES, folder)
    segments = folder / "segments.yaml"
    text = segments.read_text()
    assert "monthly_kwh: {gt: 1500}" in text
    segments.write_text(text.replace("monthly_kwh: {gt: 1500}", "monthly_kwh: {gt: 1400}", 1))
    cand = load_table_set(folder, engine.catalogue)
    impact = compare(engine, engine.tables, cand, population)
    before, _ = decide_frame(engine, population)
    after, _ = decide_frame(engine.with_tables(cand), population)
    for name in ("consumption_class", "value_tier"):
        a, b = before[name].astype(str), after[name].astype(str)
        moved = a != b
        expected = pd.DataFrame({"before": a[moved], "after": b[moved]}).value_counts().to_dict()
        got = impact.segments[impact.segments["field"] == name]
        assert {(r.before, r.after): r.customers for r in got.itertuples()} == expected
    assert impact.segments.set_index("field").loc["consumption_class", "customers"] > 20
    moved = before["consumption_class"].astype(str) != after["consumption_class"].astype(str)
    assert set(before["customer_id"][moved]) <= set(impact.affected["customer_id"])
    tier = before["value_tier"].astype(str) != after["value_tier"].astype(str)
    assert impact.segments_changed == (moved | tier).sum()
    row = impact.affected.set_index("customer_id").loc[before["customer_id"][moved].iloc[0]]
    assert row["segments"].startswith("consumption_class: average -> large")
    zh = engine.explainer.language("zh-CN")
    assert "## 客户细分的变化" in impact.markdown(zh)


def test_catalogue_and_template_changes_are_shown(engine, population, tmp_path):
    project = tmp_path / "proj"
    shutil.copytree(RULES, project / "rules")
    shutil.copytree(RULES.parent / "policies", project / "policies")
    catalogue = project / "policies" / "catalogue.yaml"
    text = catalogue.read_text()
    old = "visits_per_year: {type: int, default: 4,"
    assert old in text
    catalogue.write_text(text.replace(old, "visits_per_year: {type: int, default: 6,"))
    for name in ("priority_repair_channel.md.j2", "decision.md.j2", "report.html.j2"):
        template = project / "policies" / "templates" / name
        template.write_text("{# reviewed #}\n" + template.read_text())
    impact = run_impact(engine, str(RULES), project, population)
    assert impact.findings == ()
    cat = impact.catalogue
    assert cat.to_dict("records") == [{"policy": "on_site_service", "change": "changed",
                                       "detail": "param visits_per_year default: 4 -> 6"}]
    before, _ = decide_frame(engine, population)
    site = before["policies"].astype(str).str.contains("on_site_service")
    params = impact.params.set_index(["policy", "param"]).loc[("on_site_service",
                                                               "visits_per_year")]
    assert (params["before"], params["after"], params["customers"]) == (4, 6, site.sum())
    repair = before["policies"].astype(str).str.contains("priority_repair_channel").sum()
    assert impact.templates.to_dict("records") == [
        {"file": "templates/decision.md.j2", "change": "changed", "explains": "every decision",
         "customers": len(population)},
        {"file": "templates/priority_repair_channel.md.j2", "change": "changed",
         "explains": "priority_repair_channel", "customers": repair},
        {"file": "templates/report.html.j2", "change": "changed", "explains": "reports only",
         "customers": 0}]
    md = impact.markdown()
    assert "| on_site_service | visits_per_year | 4 visits a year | 6 visits a year |" in md
    assert (f"| templates/priority_repair_channel.md.j2 | changed | priority_repair_channel | "
            f"{repair:,} |") in md


def test_identical_sets_say_no_changes(engine, population):
    impact = compare(engine, engine.tables, engine.tables, population)
    assert impact.no_changes and not len(impact.affected)
    assert "No changes: the two sets decide and explain alike." in impact.markdown()


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                    "user.email=t@example.org", *args], check=True, capture_output=True)


def test_a_git_baseline_is_read_in_the_projects_own_repository(population, tmp_path,
                                                                monkeypatch):
    home = tmp_path / "home"
    for name in ("rules", "models", "policies"):
        shutil.copytree(RULES.parent / name, home / name)
    _git(home, "init", "-q")
    _git(home, "add", ".")
    _git(home, "commit", "-q", "-m", "tables in force")
    grades = home / "rules" / "grades.yaml"
    good = grades.read_text()
    grades.write_text(good.replace("hit_policy: first", "hit_policy: frist", 1))
    _git(home, "commit", "-q", "-am", "a typo")
    grades.write_text(good)
    _critical_target(tmp_path / "edited", "0.5")
    shutil.copy(tmp_path / "edited" / "service-policies.yaml", home / "rules")
    catalogue = home / "policies" / "catalogue.yaml"
    catalogue.write_text(catalogue.read_text().replace(
        "visits_per_year: {type: int, default: 4,", "visits_per_year: {type: int, default: 6,"))
    elsewhere = tmp_path / "elsewhere"  # another repository, whose HEAD has no rules at all
    elsewhere.mkdir()
    _git(elsewhere, "init", "-q")
    (elsewhere / "readme").write_text("not a gridcredit project\n")
    _git(elsewhere, "add", "readme")
    _git(elsewhere, "commit", "-q", "-m", "other")
    monkeypatch.chdir(elsewhere)
    source = tmp_path / "pop.parquet"
    population.to_parquet(source)
    broken = runner.invoke(app, ["rules", "impact", "--home", str(home), "--baseline", "HEAD",
                                 "--population", str(source)])
    assert broken.exit_code == 2
    assert "--baseline HEAD: the files at HEAD (" in broken.output
    assert "HEAD:rules/grades.yaml:" in broken.output and "frist" in broken.output
    result = runner.invoke(app, ["rules", "impact", "--home", str(home), "--baseline",
                                 "HEAD~1", "--population", str(source)])
    assert result.exit_code == 0, result.output
    critical = int(population["critical_load"].sum())
    assert "- baseline: `HEAD~1:rules (" in result.stdout
    assert f"| 1 hour | 0.5 hours | {critical} |" in result.stdout
    assert "| on_site_service | changed | param visits_per_year default: 4 -> 6 |" in result.stdout
    assert "| on_site_service | visits_per_year | 4 visits a year | 6 visits a year |" in \
        result.stdout
    wrong = runner.invoke(app, ["rules", "impact", "--home", str(home), "--baseline", "v9",
                                "--population", str(source)])
    assert wrong.exit_code == 2
    assert f"--baseline v9: not a folder nor a git revision of the project's repository " \
           f"{home}" in wrong.output


def test_load_baseline_keeps_the_projects_catalogue(engine):
    tables, label = load_baseline("HEAD", RULES, engine)
    assert tables.catalogue is engine.catalogue
    assert label.startswith("HEAD:rules (")
    with pytest.raises(InputError, match="--baseline v9: not a folder nor a git revision"):
        load_baseline("v9", RULES, engine)


def _theft_on_record(population: pd.DataFrame, tmp_path: Path) -> tuple[Path, str]:
    """An event store in which a customer with a clean record has a theft finding."""
    import datetime as dt

    from engine.events.model import to_micros
    from engine.events.processor import EventProcessor
    from engine.events.rules import load_event_rules
    from engine.events.store import open_store

    no_theft = (population["theft_incidents_36m"] == 0)
    if "theft_override_until" in population:
        no_theft &= population["theft_override_until"].isna()
    clean = population[no_theft].iloc[0]
    as_of = dt.datetime.fromisoformat(str(clean["as_of"])[:10]).replace(tzinfo=dt.UTC)
    path = tmp_path / "log.sqlite"
    store = open_store(str(path), synchronous="NORMAL")
    events = [{"type": "bill_issued", "event_id": "i-b1", "customer_id": clean["customer_id"],
               "time": (as_of - dt.timedelta(days=9)).isoformat(), "bill_id": "B1",
               "amount": 50.0},
              {"type": "theft_finding", "event_id": "i-f1", "customer_id": clean["customer_id"],
               "time": (as_of - dt.timedelta(days=3)).isoformat()}]
    EventProcessor(store, load_event_rules(RULES / "events.yaml")).process_many(
        events, now_us=to_micros(as_of))
    return path, str(clean["customer_id"])


def _theft_gives_b(folder: Path) -> Path:
    shutil.copytree(RULES, folder)
    grades = folder / "grades.yaml"
    text = grades.read_text()
    marker = "    when: {theft_override_active: true}\n    then: {grade: C}"
    assert marker in text
    example = "    expect: {grade: C, rules: [theft-override]}"
    assert example in text
    grades.write_text(text.replace(marker, marker.replace("{grade: C}", "{grade: B}"))
                      .replace(example, example.replace("grade: C", "grade: B")))
    return folder


def test_impact_with_the_event_store_sees_the_outcomes_the_service_would(engine, population,
                                                                         tmp_path):
    from engine.events.store import open_store

    path, customer = _theft_on_record(population, tmp_path)
    cand = load_table_set(_theft_gives_b(tmp_path / "cand"), engine.catalogue)
    blind = compare(engine, engine.tables, cand, population)
    seeing = compare(engine, engine.tables, cand, population, store=open_store(str(path)))
    assert seeing.grade_changed == blind.grade_changed + 1
    assert set(seeing.affected["customer_id"]) - set(blind.affected["customer_id"]) == {
        customer}
    assert seeing.transitions.loc["C", "B"] == blind.transitions.loc["C", "B"] + 1


def test_the_command_with_db_decides_with_the_event_outcomes(population, tmp_path):
    path, customer = _theft_on_record(population, tmp_path)
    cand = _theft_gives_b(tmp_path / "cand")
    source = tmp_path / "pop.parquet"
    population.to_parquet(source)
    runs = {}
    for name, extra in (("blind", []), ("seeing", ["--db", str(path)])):
        out = tmp_path / f"{name}.md"
        result = runner.invoke(app, ["rules", "impact", "--baseline", str(RULES), "--candidate",
                                     str(cand), "--population", str(source), "--out", str(out),
                                     *extra])
        assert result.exit_code == 0, result.output
        runs[name] = pd.read_csv(tmp_path / f"{name}.md.affected.csv", keep_default_na=False)
    moved = runs["seeing"].set_index("customer_id").loc[customer]
    assert (moved["grade_before"], moved["grade_after"]) == ("C", "B")
    assert customer not in set(runs["blind"]["customer_id"])
    assert len(runs["seeing"]) == len(runs["blind"]) + 1
    missing = runner.invoke(app, ["rules", "impact", "--baseline", str(RULES), "--candidate",
                                  str(cand), "--population", str(source), "--db",
                                  str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 2 and "none.sqlite" in missing.output
