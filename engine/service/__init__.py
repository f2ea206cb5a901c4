"""The HTTP decision service: FastAPI routes over the library, one error shape, API keys.

``create_app(settings)`` builds the application; ``gridcredit serve`` runs it
on uvicorn. Handlers only parse, authorise, call the engine and the decision
log, and map ``EngineError`` to HTTP statuses (``engine.web.errors``).
"""

from engine.service.app import create_app
from engine.service.settings import Settings

__all__ = ["Settings", "create_app"]
