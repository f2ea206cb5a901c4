"""The workbench over HTTP: who may use it, the guards, workbook upload and download."""

from __future__ import annotations

import base64
import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from engine.cli import app as cli
from engine.service.app import create_app
from engine.service.auth import add_key
from engine.service.settings import Settings
from engine.studio.app import create_studio_app
from engine.studio.workbench import StudioSettings
from engine.web.hosts import is_loopback
from tests.studio_server import studio_home

STUDIO = {"X-Studio": "1"}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return studio_home(tmp_path_factory.mktemp("svc-studio"))


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    path = tmp_path_factory.mktemp("studio-keys") / "keys.yaml"
    return {"file": path, "decide": add_key(path, "billing", ["decide"]),
            "editor": add_key(path, "policy-desk", ["editor"]),
            "admin": add_key(path, "ops", ["admin"])}


@pytest.fixture(scope="module")
def service(home, keys, tmp_path_factory):
    settings = Settings.load(env={}, home=home, keys_file=keys["file"],
                             db=str(tmp_path_factory.mktemp("log") / "log.sqlite"),
                             max_body_bytes=200_000)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def local(home, tmp_path_factory):
    folder = tmp_path_factory.mktemp("local-studio")
    application = create_studio_app(StudioSettings(home=home, drafts=folder / "drafts",
                                                   populations=(folder,),
                                                   max_upload_bytes=100_000))
    return TestClient(application, base_url="http://127.0.0.1:8765")


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def test_a_decide_key_gets_403_at_studio(service, keys):
    done = service.get("/studio", headers=bearer(keys["decide"]))
    assert done.status_code == 403
    assert done.json() == {"status": 403, "code": "forbidden", "details": [],
                           "message": "key 'billing' lacks the role admin or editor the "
                                      "workbench needs (it has decide)"}


@pytest.mark.parametrize("role", ["editor", "admin"])
def test_editor_and_admin_keys_open_the_workbench(service, keys, role):
    done = service.get("/studio", headers=bearer(keys[role]))
    assert done.status_code == 200
    assert "consumption-class" in done.text
    assert "default-src 'self'" in done.headers["content-security-policy"]


def test_no_key_asks_the_browser_to_log_in_and_basic_auth_works(service, keys):
    done = service.get("/studio")
    assert done.status_code == 401
    assert done.headers["www-authenticate"] == 'Basic realm="gridcredit studio"'
    basic = base64.b64encode(f"anyone:{keys['editor']}".encode()).decode()
    assert service.get("/studio/tables/grades",
                       headers={"Authorization": f"Basic {basic}"}).status_code == 200


def test_posts_without_the_studio_header_are_refused(service, keys):
    body = {"op": "set", "file": "grades.yaml", "table": 0, "rule": 0, "column": "source",
            "text": "x"}
    done = service.post("/studio/api/edit", json=body, headers=bearer(keys["editor"]))
    assert done.status_code == 403
    assert "X-Studio: 1" in done.json()["message"]


def test_upload_over_the_limit_is_413_under_serve_and_locally(service, local, keys):
    big = b"x" * 300_000
    done = service.post("/studio/workbook", files={"workbook": ("t.xlsx", big)},
                        headers={**bearer(keys["editor"]), **STUDIO})
    assert done.status_code == 413
    done = local.post("/studio/workbook", files={"workbook": ("t.xlsx", big)}, headers=STUDIO)
    assert done.status_code == 413
    assert done.json()["code"] == "payload_too_large"


def test_local_workbench_answers_loopback_hosts_only(local):
    assert local.get("/studio").status_code == 200
    done = local.get("/studio", headers={"Host": "rebound.example.com"})
    assert done.status_code == 403
    assert "loopback" in done.json()["message"]
    assert [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "10.0.0.1", "0.0.0.0")
            ] == [True, True, True, False, False]


def test_studio_command_refuses_a_non_loopback_host():
    done = CliRunner().invoke(cli, ["studio", "--host", "0.0.0.0"])
    assert done.exit_code == 2
    assert "loopback address only" in done.output


def test_workbook_download_then_upload_with_a_change_becomes_the_draft(local):
    done = local.get("/studio/workbook.xlsx")
    assert done.status_code == 200
    wb = load_workbook(io.BytesIO(done.content))
    ws = wb["grades"]
    row = next(r for r in ws.iter_rows() if r[0].value == "new-connection-cap")
    header = [c.value for c in next(r for r in ws.iter_rows() if r[0].value == "id")]
    row[header.index("months_connected")].value = "< 18"
    out = io.BytesIO()
    wb.save(out)
    done = local.post("/studio/workbook", files={"workbook": ("t.xlsx", out.getvalue())},
                      headers=STUDIO)
    assert done.status_code == 200, done.text
    assert done.json()["changed"] == ["grades.yaml"]
    page = local.get("/studio/tables/grades").text
    assert 'value="&lt; 18"' in page
    assert local.post("/studio/api/discard", json={}, headers=STUDIO).status_code == 200
    assert 'value="&lt; 12"' in local.get("/studio/tables/grades").text


def test_an_upload_with_a_blank_row_keeps_every_rule_and_says_where(local):
    wb = load_workbook(io.BytesIO(local.get("/studio/workbook.xlsx").content))
    wb["service-policies"].insert_rows(24)
    out = io.BytesIO()
    wb.save(out)
    done = local.post("/studio/workbook", files={"workbook": ("t.xlsx", out.getvalue())},
                      headers=STUDIO)
    assert done.status_code == 200, done.text
    assert done.json()["changed"] == []
    assert done.json()["warnings"] == ["service-policies!A24: a blank row inside the rules, "
                                       "skipped (the rules go on below)"]


def test_a_refused_workbook_names_the_cell(local):
    wb = load_workbook(io.BytesIO(local.get("/studio/workbook.xlsx").content))
    wb["grades"]["B3"] = ""
    out = io.BytesIO()
    wb.save(out)
    done = local.post("/studio/workbook", files={"workbook": ("t.xlsx", out.getvalue())},
                      headers=STUDIO)
    assert done.status_code == 422
    assert done.json()["problems"][0].startswith("grades!B3: version '' must be text")


def test_publish_from_the_workbench_records_a_release_with_its_approver(service, keys):
    from engine.governance.releases import history

    headers = {**bearer(keys["editor"]), **STUDIO}
    refused = service.post("/studio/api/publish", headers=headers,
                           json={"message": "", "approved_by": "li"})
    assert refused.status_code == 422
    assert refused.json()["code"] == "publish_refused"
    assert refused.json()["message"] == ("Not published, nothing was changed:\n  Write a "
                                         "release message: say what this release changes "
                                         "and why.")
    published = service.post("/studio/api/publish", headers=headers,
                             json={"message": "tables as reviewed", "approved_by": "li"})
    assert published.status_code == 200, published.text
    body = published.json()
    assert body["release"] == 1
    assert "by policy-desk, approved by li" in body["line"]
    again = service.post("/studio/api/publish", headers=headers,
                         json={"message": "again", "approved_by": "li"})
    assert again.status_code == 422 and "is already release 1" in again.json()["message"]
    state = service.app.state.service
    assert [r.publisher for r in history(state.log.engine)] == ["policy-desk"]


def test_publishing_from_the_local_workbench_writes_into_the_homes_log(tmp_path, monkeypatch):
    monkeypatch.delenv("GRIDCREDIT_DB", raising=False)
    home = studio_home(tmp_path / "h")
    monkeypatch.chdir(tmp_path)
    application = create_studio_app(StudioSettings(home=home, drafts=tmp_path / "drafts",
                                                   populations=(tmp_path,)))
    client = TestClient(application, base_url="http://127.0.0.1:8765")
    done = client.post("/studio/api/publish", headers=STUDIO,
                       json={"message": "first release from the workbench",
                             "publisher": "Wang Fang"})
    assert done.status_code == 200, done.text
    assert (home / "out" / "decisions.sqlite").is_file()
    assert not (tmp_path / "out").exists()
    listed = CliRunner().invoke(cli, ["rules", "history", "--home", str(home)])
    assert listed.exit_code == 0, listed.output
    assert "first release from the workbench" in listed.output
    assert "by Wang Fang" in listed.output


def test_an_uploaded_workbook_with_one_changed_cell_saves_one_changed_line(tmp_path):
    home = studio_home(tmp_path / "h")
    before = {p.name: p.read_bytes() for p in (home / "rules").iterdir()}
    client = TestClient(create_studio_app(StudioSettings(
        home=home, drafts=tmp_path / "drafts", populations=(tmp_path,))),
        base_url="http://127.0.0.1:8765")
    wb = load_workbook(io.BytesIO(client.get("/studio/workbook.xlsx").content))
    ws = wb["service-policies"]
    header = [c.value for c in ws[8]]
    row = next(r for r in ws.iter_rows() if r[0].value == "overdue-non-residential")
    row[header.index("overdue_amount")].value = "> 100"
    out = io.BytesIO()
    wb.save(out)
    done = client.post("/studio/workbook", files={"workbook": ("t.xlsx", out.getvalue())},
                       headers=STUDIO)
    assert done.json()["changed"] == ["service-policies.yaml"], done.text
    saved = client.post("/studio/api/save", json={}, headers=STUDIO)
    assert saved.json() == {"saved": ["service-policies.yaml"]}, saved.text
    after = {p.name: p.read_bytes() for p in (home / "rules").iterdir()}
    assert {n for n in before if before[n] != after[n]} == {"service-policies.yaml"}
    old = before["service-policies.yaml"].decode().splitlines()
    new = after["service-policies.yaml"].decode().splitlines()
    assert len(old) == len(new)
    diff = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert len(diff) == 1 and "overdue_amount: {gt: 100}" in diff[0][1], diff


def test_the_version_is_edited_in_the_page(local):
    done = local.post("/studio/api/edit", headers=STUDIO, json={
        "op": "version", "file": "grades.yaml", "table": 0, "column": "version",
        "text": "2027.1.0"})
    assert done.status_code == 200, done.text
    assert 'data-table-key="version"' in done.json()["grid"]
    assert 'value="2027.1.0"' in done.json()["grid"]
    assert done.json()["status"]["changed"] == ["grades.yaml"]
    assert local.post("/studio/api/discard", json={}, headers=STUDIO).status_code == 200


def test_workbook_limits_are_settings_of_the_service(home, keys, engine, tmp_path):
    from engine.studio.workbook import export_workbook

    out = io.BytesIO()
    export_workbook(engine.tables, out)
    settings = Settings.load(env={"GRIDCREDIT_WORKBOOK_MAX_ROWS": "10"}, home=home,
                             keys_file=keys["file"], db=str(tmp_path / "log.sqlite"))
    assert settings.workbook_limits.max_rows == 10
    assert settings.to_env()["GRIDCREDIT_WORKBOOK_MAX_ROWS"] == "10"  # every worker agrees
    with TestClient(create_app(settings)) as client:
        done = client.post("/studio/workbook", files={"workbook": ("t.xlsx", out.getvalue())},
                           headers={**bearer(keys["editor"]), **STUDIO})
    assert done.status_code == 413
    body = done.json()
    assert body["code"] == "payload_too_large"
    assert body["message"].startswith("the workbook holds ") and "rows; at most 10:" in (
        body["message"])
    assert body["details"][0]["path"] == "workbook"
