"""The workbench as a web application: local for one person, or under ``serve`` with keys.

``create_studio_app`` is what ``gridcredit studio`` runs: loopback only, no
key, one user called ``local``. ``mount_studio`` adds the same pages at
``/studio`` to the decision service, where a key with role ``admin`` or
``editor`` is needed (sent as ``Authorization: Bearer``, ``X-API-Key`` or, so
that a browser can log in, as the password of HTTP Basic authentication).

Two guards hold in both modes: every ``POST`` must carry ``X-Studio: 1``
(a header other sites cannot make a browser send, so no cross-site form can
edit the tables), and locally the ``Host`` must be a loopback name, so a page
elsewhere cannot reach the workbench by rebinding its DNS name to 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from engine.errors import ConfigError
from engine.studio.routes import router
from engine.studio.workbench import Studio, StudioSettings
from engine.web.errors import install_handlers
from engine.web.limits import BodyGuard
from engine.web.uploads import WorkbookLimits

__all__ = ["UPLOAD_PATH", "create_studio_app", "mount_studio"]

UPLOAD_PATH = "/studio/workbook"


def create_studio_app(settings: StudioSettings) -> FastAPI:
    """The local workbench (``gridcredit studio``)."""
    if settings.keys:
        raise ConfigError("the local workbench runs without keys: serve it with gridcredit "
                          "serve to use keys")
    app = FastAPI(title="gridcredit workbench", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.studio_settings = settings
    app.state.studio = Studio(settings)
    install_handlers(app)
    app.include_router(router)
    app.add_middleware(BodyGuard, max_body_bytes=settings.max_upload_bytes, max_json_depth=32,
                       multipart_paths=frozenset({UPLOAD_PATH}))
    return app


def mount_studio(app: FastAPI, home: Path | None, db: str | None = None,
                 four_eyes: bool = False, workbook: WorkbookLimits | None = None) -> None:
    """Add the workbench at ``/studio`` to the decision service (keys with admin or editor)."""
    app.state.studio_settings = StudioSettings(home=home, keys=True, db=db, four_eyes=four_eyes,
                                               workbook=workbook or WorkbookLimits())
    app.state.studio = None
    app.include_router(router)
