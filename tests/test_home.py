"""One project configuration: every command finds the project through --home, from anywhere.

The test walks the typer registry (as ``test_cli_help`` does) and runs each
command that reads knowledge from an unrelated working folder, with
``--home`` naming a copy of the project whose grade table is renamed and
re-versioned, so that only that copy can give the output checked. Nothing may
be written to the working folder; default outputs land under the home's
``out/``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import engine.config
from engine import synth
from engine.cli import app
from engine.config import EngineConfig, default_database, default_home
from engine.errors import ConfigError
from engine.service.settings import Settings
from tests.baseline import clean_record

ROOT = Path(__file__).resolve().parent.parent
GERMAN = ROOT / "tests" / "data" / "germancredit.csv"
SPEC = ROOT / "tests" / "data" / "germancredit-indicators.yaml"
VERSION = "2026.12.7"
NO_KNOWLEDGE = {("synth",)}  # generates data from its seed; reads nothing of a project
ENV = ("GRIDCREDIT_HOME", "GRIDCREDIT_DB", "GRIDCREDIT_KEYS", "GRIDCREDIT_BATCH_LIMIT",
       "GRIDCREDIT_MAX_BODY_BYTES", "GRIDCREDIT_MAX_JSON_DEPTH", "GRIDCREDIT_RELOAD_MARKER",
       "GRIDCREDIT_EXECUTOR", "GRIDCREDIT_SERVICE_CONFIG")
runner = CliRunner()


def _leaves(group, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    found: dict[tuple[str, ...], object] = {}
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        if hasattr(command, "commands"):
            found |= _leaves(command, path)
        else:
            found[path] = command
    return found


COMMANDS = _leaves(typer.main.get_command(app))
READERS = sorted(set(COMMANDS) - NO_KNOWLEDGE)


@dataclass
class Project:
    """A copy of the project and a data folder outside it."""

    home: Path
    data: Path
    made: dict[str, Path] = field(default_factory=dict)

    @property
    def out(self) -> Path:
        return self.home / "out"

    @property
    def grades(self) -> Path:
        return self.home / "rules" / "credit-grades.yaml"

    def record(self) -> Path:
        path = self.data / "record.json"
        path.write_text(json.dumps(clean_record("commercial", customer_id="H-1")))
        return path

    def population(self, n: int = 400) -> Path:
        path = self.data / "population.parquet"
        synth.generate(n, seed=5).drop(columns=["default_12m"]).to_parquet(path)
        return path

    def decision(self):
        from engine.decider import load

        return load(self.home).decide(json.loads(self.record().read_text()))

    def logged(self) -> str:
        from engine.audit.log import open_log

        decision = self.decision()
        with open_log(str(self.out / "decisions.sqlite")) as log:
            log.append(decision)
        return decision.decision_id

    def events(self) -> Path:
        path = self.data / "events.csv"
        pd.DataFrame([{"type": "bill_issued", "event_id": "b1", "customer_id": "H-1",
                       "time": "2026-01-05T00:00:00+00:00", "bill_id": "B1", "amount": 50.0},
                      {"type": "bill_overdue", "event_id": "o1", "customer_id": "H-1",
                       "time": "2026-02-05T00:00:00+00:00", "bill_id": "B1",
                       "penalty": 8.0}]).to_csv(path, index=False)
        return path


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    """The project copied to tmp, grade table renamed and re-versioned; cwd elsewhere."""
    home = tmp_path / "home"
    for name in ("rules", "models", "policies"):
        shutil.copytree(ROOT / name, home / name, ignore=shutil.ignore_patterns("*.md"))
    grades = home / "rules" / "grades.yaml"
    grades.rename(home / "rules" / "credit-grades.yaml")
    text = (home / "rules" / "credit-grades.yaml").read_text()
    (home / "rules" / "credit-grades.yaml").write_text(
        text.replace('version: "2026.12.0"', f'version: "{VERSION}"', 1))
    data = tmp_path / "data"
    data.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for var in ENV:
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    monkeypatch.chdir(elsewhere)
    return Project(home, data)


def _json(output: str) -> dict:
    return json.loads(output[output.index("{"):])


@dataclass(frozen=True)
class Case:
    """How to run one command against the project, and what shows it used the project."""

    args: Callable[[Project], list[str]]
    check: Callable[[Project, str], None]
    exit_code: int = 0


def _train_check(p: Project, output: str) -> None:
    doc = json.loads((p.out / "models" / "germancredit.json").read_text())
    assert [b["grade"] for b in doc["bands"]] == ["AAA", "AA", "A", "B", "C"]


def _decide_check(p: Project, output: str) -> None:
    decision = _json(output)
    assert decision["grade"]["file"] == "rules/credit-grades.yaml"
    assert decision["tables"]["versions"]["grades"] == VERSION


def _explain_args(p: Project) -> list[str]:
    path = p.data / "decision.json"
    path.write_text(p.decision().to_json())
    return ["explain", str(path)]


def _report_args(p: Project) -> list[str]:
    from engine.batch.decide import decide_file
    from engine.decider import load

    p.out.mkdir(parents=True, exist_ok=True)
    decide_file(load(p.home), p.population(), p.out / "decisions.parquet", progress=False)
    return ["report"]


def _serve_args(p: Project) -> list[str]:
    import uvicorn

    def run(server, *args, **options):
        p.made["served"] = Path(os.environ["GRIDCREDIT_HOME"])
        p.made["db"] = Path(os.environ["GRIDCREDIT_DB"])
        p.made["keys"] = Path(os.environ["GRIDCREDIT_KEYS"])

    p.made["uvicorn.run"] = uvicorn.Server.run  # type: ignore[assignment]
    uvicorn.Server.run = run  # type: ignore[method-assign]
    return ["serve", "--port", "0"]


def _serve_check(p: Project, output: str) -> None:
    import uvicorn

    uvicorn.Server.run = p.made.pop("uvicorn.run")  # type: ignore[method-assign]
    assert p.made == {"served": p.home, "db": p.out / "decisions.sqlite",
                      "keys": p.out / "api-keys.yaml"}
    assert (p.out / "decisions.sqlite").is_file()


def _import_args(p: Project) -> list[str]:
    from engine.decider import load
    from engine.studio.workbook import export_workbook

    export_workbook(load(p.home).tables, p.data / "tables.xlsx")
    return ["rules", "import", str(p.data / "tables.xlsx"), "--out", str(p.data / "imported")]


def _keys_list_args(p: Project) -> list[str]:
    from engine.service.auth import add_key

    add_key(p.out / "api-keys.yaml", "billing", ["decide"])
    return ["keys", "list"]


def _events_show_args(p: Project) -> list[str]:
    import datetime as dt

    from engine.events.model import to_micros
    from engine.events.processor import EventProcessor
    from engine.events.replay import replay

    p.out.mkdir(parents=True, exist_ok=True)
    processor = EventProcessor.open(str(p.out / "decisions.sqlite"),
                                    EngineConfig.at(p.home).event_rules)
    now = to_micros(dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    assert replay(p.events(), processor, now_us=now).accepted == 2
    return ["events", "show", "H-1"]


def _hash(p: Project) -> str:
    from engine.decider import load

    return load(p.home).tables.content_hash


CASES: dict[tuple[str, ...], Case] = {
    ("train",): Case(
        lambda p: ["train", "--data", str(GERMAN), "--target", "creditability", "--bad", "bad",
                   "--spec", str(SPEC), "--folds", "2", "--no-governance"], _train_check),
    ("evaluate",): Case(lambda p: ["evaluate", "--n", "1000"],
                        lambda p, out: "| AAA | 0.0000 | 0.0150 |" in out or pytest.fail(out)),
    ("sensitivity",): Case(
        lambda p: ["sensitivity", "--n", "300"],
        lambda p, out: (p.out / "sensitivity" / "sensitivity.csv").is_file() or pytest.fail(out)),
    ("monitor",): Case(
        lambda p: ["monitor", "--baseline", str(p.population()), "--current",
                   str(p.data / "population.parquet")],
        lambda p, out: "enterprise-2026.11: stable" in out or pytest.fail(out)),
    ("decide",): Case(lambda p: ["decide", str(p.record())], _decide_check),
    ("explain",): Case(_explain_args,
                       lambda p, out: "rules/credit-grades.yaml" in out or pytest.fail(out)),
    ("report",): Case(_report_args,
                      lambda p, out: (p.out / "report.html").is_file() or pytest.fail(out)),
    ("demo",): Case(  # too few customers to publish a model: it stops at governance
        lambda p: ["demo", "--n", "3000"],
        lambda p, out: ("not published: band " in out
                        and (p.out / "customers.parquet").is_file() or pytest.fail(out)),
        exit_code=2),
    ("rules", "check"): Case(
        lambda p: ["rules", "check"],
        lambda p, out: f"{p.grades}" in out and "no findings" in out or pytest.fail(out)),
    ("rules", "schema"): Case(
        lambda p: ["rules", "schema"],
        lambda p, out: "protected_supply" in out or pytest.fail(out)),
    ("rules", "impact"): Case(
        lambda p: ["rules", "impact", "--baseline", str(p.home / "rules"),
                   "--population", str(p.population())],
        lambda p, out: f"candidate: `{p.home / 'rules'}`" in out or pytest.fail(out)),
    ("rules", "export"): Case(
        lambda p: ["rules", "export", "--xlsx", str(p.data / "t.xlsx")],
        lambda p, out: f"sha256:{_hash(p)}" in out or pytest.fail(out)),
    ("rules", "import"): Case(
        _import_args,
        lambda p, out: f"6 tables, table set 2026.12.0+{VERSION}" in out or pytest.fail(out)),
    ("events", "replay"): Case(
        lambda p: ["events", "replay", str(p.events()), "--now", "2026-03-01", "--no-progress"],
        lambda p, out: ("2 accepted" in out and (p.out / "decisions.sqlite").is_file()
                        or pytest.fail(out))),
    ("events", "show"): Case(
        _events_show_args,
        lambda p, out: sorted(e["event_id"] for e in _json(out)["events"]) == ["b1", "o1"]
        or pytest.fail(out)),
    ("audit", "verify"): Case(
        lambda p: ["audit", "verify"] if p.logged() else [],
        lambda p, out: (f"sqlite:///{p.out / 'decisions.sqlite'}: 1 rows, chain intact" in out
                        or pytest.fail(out))),
    ("audit", "show"): Case(
        lambda p: ["audit", "show", p.logged()],
        lambda p, out: "rules/credit-grades.yaml" in out or pytest.fail(out)),
    ("audit", "list"): Case(
        lambda p: ["audit", "list"] if p.logged() else [],
        lambda p, out: "H-1" in out or pytest.fail(out)),
    ("serve",): Case(_serve_args, _serve_check),
    ("keys", "add"): Case(
        lambda p: ["keys", "add", "billing", "--role", "decide"],
        lambda p, out: "billing" in (p.out / "api-keys.yaml").read_text() or pytest.fail(out)),
    ("keys", "list"): Case(
        _keys_list_args,
        lambda p, out: f"1 key(s) in {p.out / 'api-keys.yaml'}" in out or pytest.fail(out)),
}


def test_every_command_with_a_case_takes_home():
    assert set(CASES) <= set(READERS)
    for path in CASES:
        names = {param.name for param in COMMANDS[path].params}
        assert "home" in names, f"'gridcredit {' '.join(path)}' reads knowledge: give it --home"


@pytest.mark.parametrize("path", sorted(CASES), ids=" ".join)
def test_each_command_finds_the_project_through_home_from_elsewhere(path, project):
    case = CASES[path]
    args = case.args(project)
    result = runner.invoke(app, [*args, "--home", str(project.home)])
    assert result.exit_code == case.exit_code, result.output
    case.check(project, result.output)
    assert list(Path.cwd().iterdir()) == [], "a command wrote into the working folder"


def test_gridcredit_home_means_the_same_as_home(project, monkeypatch):
    monkeypatch.setenv("GRIDCREDIT_HOME", str(project.home))
    decided = runner.invoke(app, ["decide", str(project.record())])
    assert decided.exit_code == 0, decided.output
    _decide_check(project, decided.output)
    checked = runner.invoke(app, ["rules", "check"])
    assert checked.exit_code == 0 and str(project.grades) in checked.output
    settings = Settings.load(env={"GRIDCREDIT_HOME": str(project.home)})
    assert (settings.home, settings.db, settings.keys_file) == (
        project.home, str(project.out / "decisions.sqlite"), project.out / "api-keys.yaml")
    assert default_database() == str(project.out / "decisions.sqlite")
    assert list(Path.cwd().iterdir()) == []


def test_the_service_reads_event_rules_from_its_home(project):
    from fastapi.testclient import TestClient

    from engine.service.app import create_app
    from engine.service.auth import add_key

    events = project.home / "rules" / "events.yaml"
    events.write_text(events.read_text().replace("\nrules:", "\nrulez:", 1))
    key = add_key(project.out / "api-keys.yaml", "ops", ["decide"])
    settings = Settings.load(env={}, home=str(project.home))
    with TestClient(create_app(settings)) as client:
        answer = client.post("/v1/events", headers={"Authorization": f"Bearer {key}"},
                             json={"type": "bill_issued", "event_id": "b1",
                                   "customer_id": "H-1", "time": "2026-01-05T00:00:00Z",
                                   "bill_id": "B1", "amount": 50.0})
    assert answer.status_code == 500
    assert f"{events}:" in answer.json()["message"]


def test_without_a_home_the_error_says_how_to_give_one(tmp_path, monkeypatch):
    monkeypatch.delenv("GRIDCREDIT_HOME", raising=False)
    monkeypatch.setattr(engine.config, "__file__", str(tmp_path / "site" / "engine" / "c.py"))
    with pytest.raises(ConfigError, match="no gridcredit project found: set --home DIR or "
                                          "GRIDCREDIT_HOME to the project folder"):
        default_home()
    result = runner.invoke(app, ["rules", "check"])
    assert result.exit_code == 2
    assert "error: no gridcredit project found: set --home DIR or GRIDCREDIT_HOME" in \
        result.output


def test_a_home_without_the_project_folders_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=rf"^{tmp_path / 'rules'}: folder not found: set "
                                          "--home DIR or GRIDCREDIT_HOME"):
        EngineConfig.at(tmp_path)
    result = runner.invoke(app, ["decide", "--home", str(tmp_path), "x.json"])
    assert result.exit_code == 2
    assert f"error: {tmp_path / 'rules'}: folder not found" in result.output
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    result = runner.invoke(app, ["decide", "--home", str(tmp_path), "x.json"])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {tmp_path / 'models' / 'registry.yaml'}: ")
    assert "No such file or directory" in result.output
