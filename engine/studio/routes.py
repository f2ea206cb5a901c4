"""The workbench's pages and requests: a thin layer over drafts, grids, simulator and impact.

Pages are rendered on the server (Jinja2, autoescaped); the page script sends
each edit as JSON and swaps in the grid the server renders back, so what the
page shows is always what the loader made of the draft.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from engine.audit.log import open_log
from engine.collections import read_statement, statement_text
from engine.errors import EngineError, InputError
from engine.governance.releases import PublishRefused, publish
from engine.language import normalise
from engine.records import GRADES, vocabulary
from engine.studio import edits
from engine.studio.baselines import impact_baseline
from engine.studio.columns import add_column, remove_column, rename_column
from engine.studio.drafts import Checked
from engine.studio.examples import add_example, delete_example, set_example_cell
from engine.studio.grid import GridTable, TableRef, grid, table_body, table_refs
from engine.studio.labels import (
    COOKIE,
    label,
    page_language,
    script_words,
    supported,
    words,
)
from engine.studio.releases import release_files, release_views
from engine.studio.simulate import (
    customer_record,
    form_fields,
    population_files,
    record_from_form,
    sample_record,
    simulate,
)
from engine.studio.translate import table_texts, write_translation
from engine.studio.workbench import Studio, get_studio, studio_user
from engine.studio.workbook import WorkbookError, export_workbook
from engine.studio.workbookread import read_workbook
from engine.web.errors import PayloadTooLarge
from engine.web.uploads import check_workbook

__all__ = ["router"]

HERE = Path(__file__).resolve().parent
STATIC = {"studio.js": "text/javascript", "studio.css": "text/css"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

router = APIRouter(prefix="/studio", include_in_schema=False)
_env = Environment(loader=FileSystemLoader(HERE / "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True))


def _language(request: Request) -> str:
    """The page's language: ``?lang=``, the session's choice, else ``Accept-Language``."""
    default = get_studio(request).engine.explainer.languages.default
    return page_language(request.query_params.get("lang"), request.cookies.get(COOKIE),
                         request.headers.get("accept-language"), default)


def _render(name: str, request: Request, **context: Any) -> str:
    tag = _language(request)
    policy_words = get_studio(request).engine.explainer.language(tag)
    return _env.get_template(name).render(
        t=words(tag), lang=tag, languages=supported(), script_words=script_words(tag),
        tr=lambda text: policy_words.gettext(normalise(text)) if text else text, **context)


def _page(name: str, request: Request, **context: Any) -> HTMLResponse:
    response = HTMLResponse(_render(name, request, **context),
                            headers={"Content-Security-Policy": CSP,
                                     "X-Content-Type-Options": "nosniff",
                                     "Cache-Control": "no-store"})
    if request.query_params.get("lang"):
        response.set_cookie(COOKIE, _language(request), samesite="strict", httponly=True,
                            path="/studio")
    return response


def _fragment(name: str, request: Request, **context: Any) -> str:
    return _render(name, request, **context)


def _ref(checked: Checked, name: str) -> TableRef:
    for ref in table_refs(checked):
        if ref.name == name:
            return ref
    raise InputError(f"no table {name!r}: open one of "
                     + ", ".join(r.name for r in table_refs(checked)))


def _status(studio: Studio, checked: Checked) -> dict[str, Any]:
    return {"changed": list(checked.changed), "loads": checked.loads,
            "problems": len(checked.problems), "findings": len(checked.findings),
            "pending": checked.pending, "local": not studio.settings.keys,
            "four_eyes": studio.settings.four_eyes}


def _grid_context(studio: Studio, checked: Checked, table: GridTable,
                  fired: set[str] | None = None) -> dict[str, Any]:
    catalogue = studio.workspace.catalogue
    bounds = {p.id: {name: {"type": s.type, "min": s.min, "max": s.max, "default": s.default,
                            "unit": s.unit, "choices": list(s.choices or ())}
                     for name, s in p.params.items()} for p in catalogue}
    languages = studio.engine.explainer.languages
    fields = vocabulary()
    inputs = [c.name for c in table.columns if c.part == "when"]
    choices = {name: list(fields[name].choices or ()) or (
        ["true", "false"] if fields[name].kind == "bool" else [])
        for name in inputs if name in fields}
    return {"fields": sorted(n for n in fields if n not in inputs),
            "choices": {n: c for n, c in choices.items() if c}, "table": table,
            "checked": checked, "fired": fired or set(),
            "status": _status(studio, checked), "bounds": bounds,
            "refs": table_refs(checked),
            "texts": table_texts(table.ref.file, table_body(checked, table.ref), languages)}


# --------------------------------------------------------------------------- pages

@router.get("", response_class=HTMLResponse)
def index(request: Request, user: str = Depends(studio_user)) -> HTMLResponse:
    studio = get_studio(request)
    checked = studio.workspace.check(user, static=False)
    tables = [grid(checked, ref) for ref in table_refs(checked)]
    return _page("index.html", request, tables=tables, status=_status(studio, checked),
                 checked=checked, refs=table_refs(checked))


@router.get("/tables/{name}", response_class=HTMLResponse)
def table_page(request: Request, name: str, fired: str = "",
               user: str = Depends(studio_user)) -> HTMLResponse:
    studio = get_studio(request)
    checked = studio.workspace.check(user)
    table = grid(checked, _ref(checked, name))
    return _page("table.html", request, **_grid_context(studio, checked, table,
                                               {f for f in fired.split(",") if f}))


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        return Response(status_code=404)
    return Response((HERE / "static" / name).read_bytes(), media_type=STATIC[name],
                    headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


# --------------------------------------------------------------------------- editing

_OPS = {
    "set": lambda text, body: edits.set_cell(text, body["table"], body["rule"], body["column"],
                                             str(body.get("text", ""))),
    "add": lambda text, body: edits.add_rule(text, body["table"], body.get("rule")),
    "duplicate": lambda text, body: edits.duplicate_rule(text, body["table"], body["rule"]),
    "delete": lambda text, body: edits.delete_rule(text, body["table"], body["rule"]),
    "up": lambda text, body: edits.move_rule(text, body["table"], body["rule"], -1),
    "down": lambda text, body: edits.move_rule(text, body["table"], body["rule"], 1),
    "example-set": lambda text, body: set_example_cell(
        text, body["table"], body["rule"], str(body.get("column", "")),
        str(body.get("text", ""))),
    "example-add": lambda text, body: add_example(text, body["table"]),
    "example-delete": lambda text, body: delete_example(text, body["table"], body["rule"]),
    "column-add": lambda text, body: add_column(text, body["table"], str(body.get("text", ""))),
    "column-rename": lambda text, body: rename_column(
        text, body["table"], str(body.get("column", "")), str(body.get("text", ""))),
    "column-remove": lambda text, body: remove_column(text, body["table"],
                                                      str(body.get("column", ""))),
    "version": lambda text, body: edits.set_table_key(text, body["table"], "version",
                                                      str(body.get("text", "")).strip()),
}


@router.post("/api/edit")
async def edit(request: Request, user: str = Depends(studio_user)) -> JSONResponse:
    studio = get_studio(request)
    body = await request.json()
    op = _OPS.get(body.get("op"))
    if op is None or not isinstance(body.get("table"), int) or not isinstance(
            body.get("file"), str):
        raise InputError("an edit needs file, table (its position), op ("
                         + ", ".join(_OPS) + ") and for most ops rule")
    name = Path(body["file"]).name
    if body["op"] == "set" and isinstance(body.get("rule"), int):
        checked = studio.workspace.edit_cell(user, name, body["table"], body["rule"],
                                             str(body.get("column", "")),
                                             str(body.get("text", "")))
    else:
        checked = studio.workspace.edit(user, name, lambda text: op(text, body))
    return _grid_json(request, studio, checked, Path(body["file"]).name, body["table"])


def _grid_json(request: Request, studio: Studio, checked: Checked, file: str,
               position: int) -> JSONResponse:
    return JSONResponse(_grid_data(request, studio, checked, file, position))


def _grid_data(request: Request, studio: Studio, checked: Checked, file: str,
               position: int) -> dict[str, Any]:
    ref = next((r for r in table_refs(checked) if r.file_name == file
                and r.position == position), None)
    if ref is None:
        raise InputError(f"no table number {position + 1} in {file}")
    context = _grid_context(studio, checked, grid(checked, ref))
    return {"status": context["status"], "grid": _fragment("_grid.html", request, **context),
            "bar": _fragment("_status.html", request, **context)}


@router.post("/api/translate")
async def translate(request: Request, user: str = Depends(studio_user)) -> JSONResponse:
    """Write one translation of a table's text into its language's catalogue (``.po``); the
    workbench reads the catalogue again, so the live checks and publish see it at once."""
    studio = get_studio(request)
    body = await request.json()
    for name in ("file", "table", "lang", "source", "text"):
        if name not in body:
            raise InputError(f"a translation needs file, table, lang, source and text; "
                             f"{name} is missing")
    po_file = studio.po_file(str(body["lang"]))
    where = f"{studio.workspace.key(Path(str(body['file'])).name)}:{int(body.get('line') or 0)}"
    write_translation(po_file, str(body["source"]), str(body["text"]), where)
    data = _grid_data(request, studio, studio.workspace.check(user), Path(body["file"]).name,
                      int(body["table"]))
    return JSONResponse({**data, "catalogue": _shown(studio, po_file)})


def _shown(studio: Studio, path: Path) -> str:
    """A project file as named in messages: from the project folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(studio.config.rules_dir.resolve().parent))
    except ValueError:
        return str(path)


@router.get("/api/grid")
def grid_now(request: Request, file: str, table: int,
             user: str = Depends(studio_user)) -> JSONResponse:
    """The grid as checked now (the page asks again while the static analysis runs)."""
    studio = get_studio(request)
    return _grid_json(request, studio, studio.workspace.check(user), Path(file).name, table)


@router.post("/api/save")
async def save(request: Request, user: str = Depends(studio_user)) -> JSONResponse:
    body = await request.json()
    written = get_studio(request).workspace.save(user, bump=bool(body.get("bump")))
    return JSONResponse({"saved": written})


@router.post("/api/publish")
async def publish_saved(request: Request, user: str = Depends(studio_user)) -> JSONResponse:
    """Publish the saved tables as a release (``rules publish``), with message and approver.

    The publisher is the signed-in key's name, or locally the name the page asked for."""
    body = await request.json()
    studio = get_studio(request)
    tag = _language(request)
    if studio.workspace.check(user).changed:
        raise InputError("the draft has unsaved changes: save or discard them, then publish "
                         "the saved tables")
    publisher = user if studio.settings.keys else " ".join(str(body.get("publisher") or
                                                               "").split())[:64]
    approver = " ".join(str(body.get("approved_by") or "").split()) or None
    problems = _publish_problems(tag, str(body.get("message", "")), publisher, approver,
                                 studio.settings.four_eyes)
    if problems:
        raise _refused(tag, problems)
    with open_log(studio.database) as log:
        try:
            release, diff = publish(studio.engine, log.engine,
                                    message=str(body.get("message", "")), publisher=publisher,
                                    approver=approver, four_eyes=studio.settings.four_eyes)
        except PublishRefused as exc:
            raise _refused(tag, exc.problems) from None
    return JSONResponse({"release": release.number, "line": release.line(),
                         "diff": diff.text()})


def _publish_problems(tag: str, message: str, publisher: str, approver: str | None,
                      four_eyes: bool) -> list[str]:
    problems = []
    if not message.strip():
        problems.append(label("publish.need_message", tag))
    if not publisher:
        problems.append(label("publish.need_name", tag))
    if four_eyes and not approver:
        problems.append(label("publish.need_approver", tag))
    if four_eyes and approver and approver.lower() == publisher.lower():
        problems.append(label("publish.self_approval", tag, approver=approver))
    return problems


def _refused(tag: str, problems: list[str]) -> PublishRefused:
    refused = PublishRefused(problems)
    refused.message = label("publish.refused", tag) + "\n" + "\n".join(
        f"  {p}" for p in problems)
    return refused


@router.get("/history", response_class=HTMLResponse)
def history_page(request: Request, user: str = Depends(studio_user)) -> HTMLResponse:
    """Every release, newest first, with what it changed in plain words."""
    studio = get_studio(request)
    with open_log(studio.database) as log:
        releases = release_views(log.engine, _language(request))
    return _page("history.html", request, releases=releases,
                 four_eyes=studio.settings.four_eyes,
                 status=_status(studio, studio.workspace.check(user, static=False)))


@router.post("/api/restore")
async def restore(request: Request, user: str = Depends(studio_user)) -> JSONResponse:
    """Make a release's tables the user's draft (only the files that differ from the saved)."""
    studio = get_studio(request)
    body = await request.json()
    number = body.get("release")
    if not isinstance(number, int):
        raise InputError("say which release to restore: release, its number")
    with open_log(studio.database) as log:
        files = release_files(log.engine, number)
    saved = {Path(k).name: v for k, v in studio.workspace.saved_texts().items()}
    changed = {n: t for n, t in files.items() if n in saved and saved[n] != t}
    tag = _language(request)
    if not changed:
        return JSONResponse({"changed": [], "message": label("history.same", tag, num=number)})
    studio.workspace.replace(user, changed)
    return JSONResponse({"changed": sorted(changed), "message": label(
        "history.restored", tag, num=number, files=", ".join(sorted(changed)))})


@router.post("/api/undo")
def undo(request: Request, user: str = Depends(studio_user)) -> JSONResponse:
    checked = get_studio(request).workspace.undo(user)
    return JSONResponse({"changed": list(checked.changed)})


@router.post("/api/redo")
def redo(request: Request, user: str = Depends(studio_user)) -> JSONResponse:
    checked = get_studio(request).workspace.undo(user, redo=True)
    return JSONResponse({"changed": list(checked.changed)})


@router.post("/api/discard")
def discard(request: Request, user: str = Depends(studio_user)) -> JSONResponse:
    get_studio(request).workspace.discard(user)
    return JSONResponse({"discarded": True})


# --------------------------------------------------------------------------- workbook

@router.get("/workbook.xlsx")
def download_workbook(request: Request, user: str = Depends(studio_user)) -> Response:
    studio = get_studio(request)
    checked = studio.workspace.check(user, static=False)
    tables = checked.table_set if checked.loads else studio.saved_tables
    buffer = io.BytesIO()
    export_workbook(tables, buffer, studio.config.rules_dir, lang=_language(request))
    return Response(buffer.getvalue(), media_type="application/vnd.openxmlformats-"
                    "officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="tables.xlsx"'})


@router.post("/workbook")
async def upload_workbook(request: Request, user: str = Depends(studio_user)) -> JSONResponse:
    studio = get_studio(request)
    limit = studio.settings.max_upload_bytes
    form = await request.form()
    upload = form.get("workbook")
    if upload is None or not hasattr(upload, "read"):
        raise InputError("send the workbook as the form field 'workbook'")
    data = await upload.read()
    if len(data) > limit:
        raise PayloadTooLarge(f"the workbook is {len(data):,} bytes; at most {limit:,}")
    saved = {Path(k).name: v for k, v in studio.workspace.saved_texts().items()}
    await run_in_threadpool(check_workbook, data, studio.settings.workbook)
    try:
        imported = await run_in_threadpool(read_workbook, data, studio.workspace.catalogue,
                                           base=saved)
    except WorkbookError as exc:
        return JSONResponse({"problems": exc.problems}, status_code=422)
    unknown = sorted(set(imported.texts) - set(saved))
    if unknown:
        raise InputError(f"the workbook holds files the project lacks ({', '.join(unknown)}): "
                         "create them in rules/ first")
    checked = studio.workspace.replace(user, imported.changed)
    return JSONResponse({"changed": sorted(imported.changed), "warnings": list(imported.warnings),
                         "status": _status(studio, checked)})


# --------------------------------------------------------------------------- collections

@router.get("/collections", response_class=HTMLResponse)
def collections_page(request: Request, customer: str = "", as_of: str = "",
                     user: str = Depends(studio_user)) -> HTMLResponse:
    """A customer's collections on a date, read only: the cases, their dated steps, the
    protections, the deposit and the statement, worded as ``collections show`` words them."""
    studio = get_studio(request)
    text = problem = None
    if customer:
        try:
            day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
            statement, languages = read_statement(customer.strip(), day, db=studio.database,
                                                  home=studio.config.home)
            text = statement_text(statement, languages.get(_language(request)))
        except ValueError:
            problem = label("collections.bad_date", _language(request), value=as_of)
        except EngineError as exc:
            problem = exc.message
    return _page("collections.html", request, customer=customer, as_of=as_of, text=text,
                 problem=problem, status=_status(studio, studio.workspace.check(
                     user, static=False)))


# --------------------------------------------------------------------------- simulator

@router.get("/simulate", response_class=HTMLResponse)
def simulate_page(request: Request, user: str = Depends(studio_user)) -> HTMLResponse:
    studio = get_studio(request)
    files = population_files(studio.population_dirs)
    groups: dict[str, list[Any]] = {}
    for f in form_fields():
        groups.setdefault(f.group, []).append(f)
    return _page("simulate.html", request, groups=list(groups.items()), record=sample_record(),
                 files=[f.name for f in files], status=_status(
                     studio, studio.workspace.check(user, static=False)))


@router.get("/api/customer")
def customer(request: Request, file: str, id: str,  # noqa: A002
             user: str = Depends(studio_user)) -> JSONResponse:
    studio = get_studio(request)
    path = _population(studio, file)
    return JSONResponse({"record": customer_record(path, id)})


def _population(studio: Studio, name: str) -> Path:
    for path in population_files(studio.population_dirs):
        if path.name == name:
            return path
    raise InputError(f"no population file {name!r} in "
                     + ", ".join(str(p) for p in studio.population_dirs))


@router.post("/api/simulate")
async def run_simulation(request: Request, user: str = Depends(studio_user)) -> JSONResponse:
    studio = get_studio(request)
    body = await request.json()
    record = record_from_form(body.get("record") or {})
    checked = studio.workspace.check(user, static=False)
    sides = [("saved", studio.saved_tables)]
    if checked.loads and checked.changed:
        sides.insert(0, ("draft", checked.table_set))
    outcomes = simulate(studio.engine, record, sides, lang=_language(request))
    fired = {(table, rule) for table, rule in outcomes[0].fired}
    grids = [grid(checked, ref) for ref in table_refs(checked)]
    html = _fragment("_outcome.html", request, outcomes=outcomes, grids=grids,
                     fired={r for _, r in fired}, draft_pending=bool(checked.changed),
                     draft_loads=checked.loads,
                     titles={p.id: p.title for p in studio.workspace.catalogue})
    return JSONResponse({"html": html, "fired": sorted(f"{t}/{r}" for t, r in fired)})


# --------------------------------------------------------------------------- impact

@router.get("/impact", response_class=HTMLResponse)
def impact_page(request: Request, user: str = Depends(studio_user)) -> HTMLResponse:
    studio = get_studio(request)
    files = population_files(studio.population_dirs)
    return _page("impact.html", request, files=[f.name for f in files],
                 folders=[str(p) for p in studio.population_dirs],
                 status=_status(studio, studio.workspace.check(user, static=False)))


@router.post("/api/impact")
async def start_impact(request: Request, user: str = Depends(studio_user)) -> JSONResponse:
    studio = get_studio(request)
    body = await request.json()
    population = _population(studio, str(body.get("population", "")))
    checked = studio.workspace.check(user, static=False)
    if not checked.loads:
        raise InputError("the draft does not load: fix the problems marked in the grid first")
    baseline = impact_baseline(str(body.get("baseline") or ""), studio)
    job = studio.jobs.start(studio.engine, baseline, ("draft", checked.table_set), population)
    return JSONResponse(job.status())


@router.get("/api/impact/{job_id}")
def impact_status(request: Request, job_id: str,
                  user: str = Depends(studio_user)) -> JSONResponse:
    job = get_studio(request).jobs.get(job_id)
    out = job.status()
    if job.state == "finished" and job.result is not None:
        words_of = get_studio(request).engine.explainer.language(_language(request))
        out["html"] = _fragment("_impact.html", request, job=job, impact=job.result,
                                affected=job.result.affected.head(200), grades=GRADES,
                                words_of=words_of)
    return JSONResponse(out)


REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@router.get("/impact/{job_id}/report.html", response_class=HTMLResponse)
def impact_report(request: Request, job_id: str,
                  user: str = Depends(studio_user)) -> HTMLResponse:
    """The full report of an impact run, the one ``rules impact --out x.html`` writes: changed
    rules, parameters, per-rule counts, segment moves, in the page's language."""
    studio = get_studio(request)
    job = studio.jobs.get(job_id)
    if job.result is None:
        raise InputError(f"impact run {job_id} has not finished")
    words_of = studio.engine.explainer.language(_language(request))
    html = job.result.html(words_of, templates_dir=studio.engine.config.templates_dir)
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP,
                                       "X-Content-Type-Options": "nosniff"})


@router.get("/impact/{job_id}/affected.csv")
def affected_csv(request: Request, job_id: str,
                 user: str = Depends(studio_user)) -> StreamingResponse:
    job = get_studio(request).jobs.get(job_id)
    if job.result is None:
        raise InputError(f"impact run {job_id} has not finished")
    text = job.result.affected.to_csv(index=False)
    return StreamingResponse(iter([text]), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="affected-{job_id}.csv"'})
