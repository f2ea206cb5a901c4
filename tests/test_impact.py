"""Rule-change impact: counts agree with deciding twice, git baselines, the command's outputs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from engine import synth
from engine.batch.decide import decide_frame
from engine.batch.impact import compare, load_baseline
from engine.cli import app
from engine.config import default_home
from engine.errors import InputError
from engine.tables import load_table_set

runner = CliRunner()
RULES = default_home() / "rules"


def _candidate(folder: Path) -> Path:
    """The shipped rules with the AAA band narrowed and deposits extended to grade B."""
    shutil.copytree(RULES, folder)
    grades = folder / "grades.yaml"
    text = grades.read_text()
    text = text.replace("when: {pd: {lt: 0.015}}", "when: {pd: {lt: 0.01}}")
    text = text.replace("when: {pd: {ge: 0.015, lt: 0.03}}", "when: {pd: {ge: 0.01, lt: 0.03}}")
    grades.write_text(text)
    policies = folder / "service-policies.yaml"
    policies.write_text(policies.read_text().replace(
        "    when: {grade: C}\n    then:\n      - policy: security_deposit",
        "    when: {grade: [B, C]}\n    then:\n      - policy: security_deposit"))
    return folder


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    return synth.generate(3_000, seed=12).drop(columns=["default_12m"])


def test_impact_counts_equal_deciding_with_each_set(engine, population, tmp_path):
    cand = load_table_set(_candidate(tmp_path / "cand"), engine.catalogue)
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


def test_a_git_revision_is_a_baseline(engine, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(RULES, repo / "rules")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "rules"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "tables"], check=True)
    tables, label = load_baseline("HEAD", repo / "rules", engine)
    assert tables.content_hash == engine.tables.content_hash
    assert label.startswith("HEAD:rules (")
    with pytest.raises(InputError, match="--baseline v9: not a folder nor a git revision"):
        load_baseline("v9", repo / "rules", engine)


def test_the_command_writes_html_markdown_and_the_affected_list(population, tmp_path):
    source = tmp_path / "pop.parquet"
    population.to_parquet(source)
    cand = _candidate(tmp_path / "cand")
    out = tmp_path / "impact.html"
    args = ["rules", "impact", "--baseline", str(RULES), "--candidate", str(cand),
            "--population", str(source)]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "change grade" in result.stdout and "impact.affected.csv" in result.stdout
    html = out.read_text()
    assert "<h2>Grade transitions" in html and "security_deposit" in html
    listed = pd.read_csv(tmp_path / "impact.affected.csv")
    assert list(listed.columns) == ["customer_id", "grade_before", "grade_after", "gained", "lost"]
    again = runner.invoke(app, [*args, "--out", str(out)])
    assert again.exit_code == 2 and "exists; use --overwrite" in again.output
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0 and shown.stdout.startswith("# Rule-change impact")
    bad = runner.invoke(app, [*args, "--out", str(tmp_path / "r.pdf")])
    assert bad.exit_code == 2 and "write the report as .html or .md" in bad.output


def test_impact_with_the_event_store_sees_the_outcomes_the_service_would(engine, population,
                                                                         tmp_path):
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
    store = open_store(str(tmp_path / "log.sqlite"), synchronous="NORMAL")
    events = [{"type": "bill_issued", "event_id": "i-b1", "customer_id": clean["customer_id"],
               "time": (as_of - dt.timedelta(days=9)).isoformat(), "bill_id": "B1",
               "amount": 50.0},
              {"type": "theft_finding", "event_id": "i-f1", "customer_id": clean["customer_id"],
               "time": (as_of - dt.timedelta(days=3)).isoformat()}]
    EventProcessor(store, load_event_rules(RULES / "events.yaml")).process_many(
        events, now_us=to_micros(as_of))
    folder = tmp_path / "cand"
    shutil.copytree(RULES, folder)
    grades = folder / "grades.yaml"
    grades.write_text(grades.read_text().replace(
        "    when: {theft_override_active: true}\n    then: {grade: C}",
        "    when: {theft_override_active: true}\n    then: {grade: B}"))
    cand = load_table_set(folder, engine.catalogue)
    blind = compare(engine, engine.tables, cand, population)
    seeing = compare(engine, engine.tables, cand, population, store=store)
    assert seeing.grade_changed == blind.grade_changed + 1
    assert set(seeing.affected["customer_id"]) - set(blind.affected["customer_id"]) == {
        clean["customer_id"]}
    assert seeing.transitions.loc["C", "B"] == blind.transitions.loc["C", "B"] + 1
