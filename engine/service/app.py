"""``create_app(settings)``: the FastAPI application, its middleware and its routers.

``/docs`` and ``/redoc`` serve their scripts and styles from the installed
``fastapi-offline`` package (under ``/static-offline-docs``), never from a
CDN, so the API reference works on a network without Internet access.

Order of the layers a request passes, outermost first: metrics (so refused
requests are counted too), the host guard (``allowed_hosts``), the body
guard (size, media type, strict JSON), the decision fast path
(``engine.service.fastpath``: authorised, valid decision requests are
answered there), then routing, API-key dependencies
and handlers. Routers found in optional
modules (``engine.service.events_routes``) are mounted when the module is
installed; see docs/service.md for the contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import importlib.util
import logging
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi_offline import FastAPIOffline

from engine import __version__
from engine.audit.log import DecisionLog
from engine.decider import Engine
from engine.errors import EngineError
from engine.records import SAMPLE_RECORD
from engine.service.access import AccessLog
from engine.service.auth import KeyStore
from engine.service.fastpath import DecisionFastPath
from engine.service.idempotency import IdempotencyStore
from engine.service.metrics import MetricsMiddleware
from engine.service.openapi import finish_document
from engine.service.routes import DECIDE_PATH, VALIDATE_PATH, record_schemas, router
from engine.service.settings import Settings
from engine.service.state import ServiceState
from engine.service.workers import die_with_supervisor
from engine.studio.app import UPLOAD_PATH, mount_studio
from engine.web.errors import install_handlers
from engine.web.hosts import HostGuard
from engine.web.limits import BodyGuard

__all__ = ["PLUGIN_ROUTERS", "SWITCH_INTERVAL_S", "create_app", "create_app_from_env",
           "reload_on_sighup"]

log = logging.getLogger("gridcredit.service")

SWITCH_INTERVAL_S = 0.0005

# Optional router modules, each exposing ``router: APIRouter`` whose routes declare
# their own roles with ``require_role`` (posting events needs decide, reading them audit).
PLUGIN_ROUTERS: tuple[str, ...] = ("engine.service.events_routes",
                                  "engine.service.collections_routes")


def create_app(settings: Settings | None = None, *, engine: Engine | None = None,
               decision_log: DecisionLog | None = None) -> FastAPI:
    """The service for ``settings``; ``engine`` and ``decision_log`` may be given ready-made."""
    settings = settings or Settings.load()
    state = ServiceState(settings, engine=engine, decision_log=decision_log)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP,
                                    lambda: loop.create_task(reload_on_sighup(state)))
        state.open()
        try:
            yield
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)
            state.close()
            app.state.idempotency.close()

    app = FastAPIOffline(
        title="gridcredit decision service",
        version=__version__,
        description="Credit grades and differentiated service policies for electric power "
                    "customers. Every decision is logged, hash-chained, before it is "
                    "returned. Authenticate with `Authorization: Bearer <key>`.",
        lifespan=lifespan,
        # The service counts in Prometheus and configures no OpenTelemetry provider;
        # FastAPI's native telemetry would still look for one on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Decisions drop empty optional parts when serialised; their validation schema
        # is the one that describes what the service sends.
        separate_input_output_schemas=False,
    )
    # A redirect to the path with or without its slash would name the request's Host.
    app.router.redirect_slashes = False
    app.state.service = state
    app.state.keys = KeyStore(settings.keys_file)
    app.state.idempotency = IdempotencyStore(
        settings.db or state.log.engine.url.render_as_string(hide_password=False),
        settings.idempotency_window_s)
    install_handlers(app)
    app.include_router(router)
    mount_studio(app, settings.home, settings.db, settings.four_eyes,
                 workbook=settings.workbook_limits)
    schemas: dict[str, object] = dict(record_schemas())
    for module_name in PLUGIN_ROUTERS:
        if importlib.util.find_spec(module_name) is not None:
            module = importlib.import_module(module_name)
            app.include_router(module.router)
            schemas.update(getattr(module, "SCHEMAS", {}))
    _add_schemas(app, schemas)
    app.add_middleware(DecisionFastPath, state=state, keys=app.state.keys,
                       route=_route(router.routes, DECIDE_PATH, "POST"))
    app.add_middleware(BodyGuard, max_body_bytes=settings.max_body_bytes,
                       max_json_depth=settings.max_json_depth,
                       multipart_paths=frozenset({VALIDATE_PATH, UPLOAD_PATH}))
    app.add_middleware(HostGuard, allowed=settings.allowed_hosts)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    app.add_middleware(AccessLog)
    return app


def _route(routes: list[Any], path: str, method: str) -> Any:
    return next(r for r in routes
                if getattr(r, "path", None) == path and method in getattr(r, "methods", ()))


def _add_schemas(app: FastAPI, schemas: dict[str, object]) -> None:
    """Put schemas that routers refer to by hand (``$ref``) into the OpenAPI components."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = generate()
            document.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
            state = app.state.service
            settings = state.settings
            app.openapi_schema = finish_document(
                document, batch_limit=settings.batch_limit, metrics_role=settings.metrics_role,
                decision_example=state.engine.decide(SAMPLE_RECORD).as_json())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app_from_env() -> FastAPI:
    """The uvicorn factory each worker calls: settings from the environment ``serve`` set.

    Once the engine is loaded, everything alive is moved out of the collector's
    reach (``gc.freeze``): the loaded tables, models and libraries stay for the
    life of the worker, and no collection during a request walks them again.

    The log writer thread needs the GIL a few times per commit (around each
    database call), and the event loop, busy deciding, gives it up only when
    the interpreter's switch interval asks it to. At the default 5 ms a commit
    could wait tens of milliseconds on a loaded worker, so the worker asks
    every ``SWITCH_INTERVAL_S`` instead.
    """
    die_with_supervisor()
    ours = logging.getLogger("gridcredit")  # the access log and the service's own lines
    ours.handlers = list(logging.getLogger("uvicorn.error").handlers)
    ours.setLevel(logging.INFO)
    ours.propagate = False
    app = create_app(Settings.from_env())
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.collect()
    gc.freeze()
    return app


async def reload_on_sighup(state: ServiceState) -> None:
    """SIGHUP: reload the tables as ``POST /v1/tables:reload`` does, logging the outcome."""
    try:
        engine = await run_in_threadpool(state.reload)
    except EngineError as exc:
        log.error("SIGHUP reload refused, the active tables stay: %s", exc.message)
        return
    log.info("SIGHUP reload: tables %s active", engine.tables.version)


