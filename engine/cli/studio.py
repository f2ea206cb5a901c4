"""``gridcredit studio``: the policy-staff workbench on this machine, for one person."""

from __future__ import annotations

from pathlib import Path

import typer

from engine.cli.apps import app
from engine.cli.common import DB, reports_errors
from engine.errors import ConfigError
from engine.service.settings import Settings
from engine.studio.app import create_studio_app
from engine.studio.workbench import StudioSettings
from engine.web.hosts import is_loopback


@app.command("studio")
@reports_errors
def studio_command(
    home: Path | None = typer.Option(None, "--home", help="Project folder (rules, models)."),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Loopback address to listen on (127.0.0.1, ::1, localhost)."),
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="TCP port."),
    populations: list[Path] = typer.Option(
        [Path("out")], "--populations",
        help="Folder of population files (CSV, Parquet) for the simulator and impact; repeat "
             "for several."),
    drafts: Path = typer.Option(Path("out/studio-drafts"), "--drafts",
                                help="Folder that keeps drafts between runs."),
    db: str | None = DB,
) -> None:
    """Open the workbench: tables as grids with live checks, simulator, impact, Excel.

    Loopback only and without keys; to offer it to others, run gridcredit serve,
    which mounts it at /studio for keys with role admin or editor.
    """
    import uvicorn


    if not is_loopback(host):
        raise ConfigError(f"--host {host}: the local workbench has no keys, so it listens on "
                          "a loopback address only; to serve it to others use gridcredit "
                          "serve (keys with role admin or editor) and open /studio")

    settings = StudioSettings(home=home, drafts=drafts, populations=tuple(populations), db=db,
                              four_eyes=Settings.load().four_eyes)
    application = create_studio_app(settings)
    typer.echo(f"gridcredit workbench on http://{host}:{port}/studio", err=True)
    uvicorn.run(application, host=host, port=port, log_level="warning")
