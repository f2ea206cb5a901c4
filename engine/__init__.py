"""gridcredit: credit grades and differentiated service policies for electric power customers.

The public surface is small::

    import engine

    eng = engine.load()                 # engine.Engine: tables, catalogue, models, checked
    decision = eng.decide(record)       # engine.Decision: frozen, sealed, explainable
    decisions, rejects = eng.decide_many(frame)

and every error the engine raises on purpose is an ``engine.EngineError``.
``load``, ``Engine`` and ``Decision`` are imported on first use, so that
``import engine.records`` (or any single stage) does not load the whole
decision pipeline.
"""

from __future__ import annotations

import importlib
import typing

from engine.errors import EngineError

__version__ = "0.1.0"
__all__ = ["Decision", "Engine", "EngineError", "__version__", "load"]

if typing.TYPE_CHECKING:
    from engine.decider import Engine, load
    from engine.decision import Decision

_HOMES = {"load": "engine.decider", "Engine": "engine.decider", "Decision": "engine.decision"}


def __getattr__(name: str) -> object:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
