"""Impact baselines the workbench takes: saved, a release, a git revision of the project, or a
folder inside the home; anything else is refused with one message whatever is there."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from engine.studio.app import create_studio_app
from engine.studio.baselines import BaselineRefused, impact_baseline
from engine.studio.workbench import Studio, StudioSettings
from tests.studio_server import population, studio_home

ROOT = Path(__file__).resolve().parent.parent
CHOICES = ("give 'saved', a published release ('release 3'), a git revision of the project "
           "('HEAD~1', 'v2026.11:rules') or a folder inside the home ('rules')")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return studio_home(tmp_path_factory.mktemp("baselines"))


@pytest.fixture(scope="module")
def studio(home, tmp_path_factory):
    folder = tmp_path_factory.mktemp("baselines-studio")
    return Studio(StudioSettings(home=home, drafts=folder / "drafts", populations=(folder,),
                                 db=str(folder / "log.sqlite")))


def test_saved_and_a_folder_inside_the_home_are_taken(studio, home):
    label, tables = impact_baseline("", studio)
    assert label == "saved tables" and tables is studio.saved_tables
    label, tables = impact_baseline("rules", studio)
    assert label == "folder rules"
    assert tables.content_hash == studio.saved_tables.content_hash
    label, _ = impact_baseline(str(home / "rules"), studio)
    assert label == "folder rules"


def test_a_place_outside_the_home_is_refused_the_same_whether_it_exists_or_not(
        studio, home, tmp_path):
    (tmp_path / "rules").mkdir()
    for spec in ("/etc", "/no/such/folder", "../../etc", "../no-such", str(tmp_path),
                 str(tmp_path / "rules"), str(home.parent), "~"):
        with pytest.raises(BaselineRefused) as refused:
            impact_baseline(spec, studio)
        assert refused.value.message == f"baseline {spec!r}: not inside the home; {CHOICES}"
        assert refused.value.details() == [{"path": "baseline", "value": spec,
                                            "message": refused.value.message}]


def test_a_folder_inside_the_home_without_tables_is_refused_without_server_paths(studio, home):
    with pytest.raises(BaselineRefused, match=r"^baseline 'models': the folder holds no table "
                                              r"set that loads \(") as refused:
        impact_baseline("models", studio)
    assert str(home) not in refused.value.message
    with pytest.raises(BaselineRefused, match="no such folder inside the home"):
        impact_baseline(str(home / "no-such"), studio)


def test_a_release_must_be_published(studio):
    for spec in ("release 7", "7"):
        with pytest.raises(BaselineRefused) as refused:
            impact_baseline(spec, studio)
        assert refused.value.message == (
            f"baseline {spec!r}: no release with this number has been published (see "
            f"gridcredit rules history); {CHOICES}")


def test_a_git_revision_of_the_project_is_taken(tmp_path_factory):
    folder = tmp_path_factory.mktemp("baselines-git")
    studio = Studio(StudioSettings(home=ROOT, drafts=folder / "drafts", populations=(folder,)))
    label, tables = impact_baseline("HEAD", studio)
    assert label.startswith("HEAD:rules (") and len(tables.tables) >= 3


def test_the_impact_route_refuses_in_the_error_shape(home, tmp_path):
    population(tmp_path, n=50)
    client = TestClient(create_studio_app(StudioSettings(
        home=home, drafts=tmp_path / "drafts", populations=(tmp_path,))),
        base_url="http://127.0.0.1:8765")
    answer = client.post("/studio/api/impact", headers={"X-Studio": "1"},
                         json={"population": "customers.csv", "baseline": "/etc"})
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "baseline_refused"
    assert body["message"] == f"baseline '/etc': not inside the home; {CHOICES}"
    assert body["details"][0]["path"] == "baseline"
