"""The HTTP service command: ``gridcredit serve`` (its keys are ``engine.cli.keys``)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

import typer

from engine.audit.log import open_log
from engine.cli.apps import app
from engine.cli.common import DB, HOME, reports_errors
from engine.config import EngineConfig
from engine.service.auth import read_keys
from engine.service.settings import Settings
from engine.service.workers import listening_socket, run_workers
from engine.web.hosts import default_hosts
from engine.web.protocol import GuardedHttpTools
from engine.web.redact import shown_database

KEYS = typer.Option(None, "--keys",
                    help="API keys file (default: $GRIDCREDIT_KEYS, else out/api-keys.yaml "
                         "under --home).")


@app.command("serve")
@reports_errors
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="uvicorn worker processes."),
    config: Path | None = typer.Option(
        None, "--config", help="Service settings (YAML; default $GRIDCREDIT_SERVICE_CONFIG)."),
    home: Path | None = HOME,
    db: str | None = DB,
    keys: Path | None = KEYS,
    batch_limit: int | None = typer.Option(None, "--batch-limit", help="Records per batch."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Run the decision service (FastAPI on uvicorn, httptools and uvloop); OpenAPI at /docs.

    With several workers, the supervisor listens on the port and every worker
    takes connections from that one socket; a dead worker is replaced within a
    second, and workers exit when the supervisor does.

    Prometheus counts in multiprocess mode, in $PROMETHEUS_MULTIPROC_DIR (emptied
    at start) or in a temporary folder removed at exit (and, if the supervisor
    was killed, at the next start), so /metrics sums every worker.
    """
    metrics_dir, made = _metrics_dir()
    try:
        _serve(host, port, workers, config, home, db, keys, batch_limit, log_level)
    finally:
        if made:
            shutil.rmtree(metrics_dir, ignore_errors=True)


_METRICS_PREFIX = "gridcredit-metrics-"


def _metrics_dir() -> tuple[Path, bool]:
    """The Prometheus multiprocess folder, set before prometheus_client is imported.

    A folder of ours is named for the supervisor's pid; folders left by a
    supervisor that is no longer running are removed first.
    """
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return path, False
    for left in Path(tempfile.gettempdir()).glob(_METRICS_PREFIX + "*"):
        owner = left.name[len(_METRICS_PREFIX):].split("-", 1)[0]
        if owner.isdigit() and not _running(int(owner)):
            shutil.rmtree(left, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix=f"{_METRICS_PREFIX}{os.getpid()}-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path, True


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# A worker loads the libraries, the tables and the models and archives the set before it
# answers the supervisor's pings; on a busy machine that takes far longer than uvicorn's
# 5 s default, and a worker killed for it restarts into the same wait for ever.
WORKER_START_S = 120
APP = "engine.service.app:create_app_from_env"


def _serve(host: str, port: int, workers: int, config: Path | None, home: Path | None,
           db: str | None, keys: Path | None, batch_limit: int | None, log_level: str) -> None:
    # Imported here, after _metrics_dir: prometheus_client, which the service loads, reads
    # PROMETHEUS_MULTIPROC_DIR once, when it is first imported.
    import uvicorn


    settings = Settings.load(config, home=home, db=db, keys_file=keys, batch_limit=batch_limit)
    if settings.allowed_hosts is None:
        settings = dataclasses.replace(settings, allowed_hosts=default_hosts(host))
    EngineConfig.at(settings.home)
    open_log(settings.db).close()
    count = len(read_keys(settings.keys_file))
    if not count:
        typer.echo("warning: the keys file holds no API keys: every request but /healthz, "
                   "/metrics and /docs gets 401; create one with gridcredit keys add NAME "
                   "--role decide", err=True)
    os.environ.update(settings.to_env())
    typer.echo(f"gridcredit service on http://{host}:{port} ({workers} worker(s)); "
               f"decision log {shown_database(settings.db)}; {count} API key(s); "
               f"hosts {', '.join(settings.allowed_hosts or ())}", err=True)
    options = dict(factory=True, host=host, port=port, workers=workers, log_level=log_level,
                   http=GuardedHttpTools, loop="uvloop",
                   timeout_worker_healthcheck=WORKER_START_S,
                   proxy_headers=bool(settings.forwarded_allow_ips),
                   forwarded_allow_ips=",".join(settings.forwarded_allow_ips) or None,
                   timeout_graceful_shutdown=10, access_log=False)
    sock = listening_socket(host, port)
    config_ = uvicorn.Config(APP, **options)
    if workers == 1:
        try:
            uvicorn.Server(config_).run(sockets=[sock])
        finally:
            sock.close()
        return
    run_workers(config_, sock)
