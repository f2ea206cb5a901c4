"""The package's public surface: ``engine.__all__`` is complete and every name in it works."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import types

import engine
from engine import synth
from engine.records import record_of

PUBLIC = {"load", "Engine", "Decision", "EngineError", "__version__"}


def test_all_names_the_public_surface_and_each_name_imports():
    assert set(engine.__all__) == PUBLIC
    namespace: dict = {}
    exec("from engine import *", namespace)  # noqa: S102
    assert PUBLIC <= set(namespace)
    assert engine.load is importlib.import_module("engine.decider").load
    assert engine.Engine is importlib.import_module("engine.decider").Engine
    assert engine.Decision is importlib.import_module("engine.decision").Decision
    assert engine.EngineError is importlib.import_module("engine.errors").EngineError
    assert engine.__version__.count(".") == 2


def test_all_is_complete():
    """Every public, non-module attribute of the package is in ``__all__``."""
    for name in dir(engine):
        if name.startswith("_") and name != "__version__":
            continue
        value = getattr(engine, name)
        if isinstance(value, types.ModuleType) or name in ("annotations",):
            continue
        assert name in engine.__all__, f"engine.{name} is public but not in engine.__all__"


def test_every_engine_error_descends_from_engine_error():
    errors = importlib.import_module("engine.errors")
    classes = [getattr(errors, n) for n in errors.__all__ if inspect.isclass(getattr(errors, n))]
    assert len(classes) > 10
    for value in classes:
        assert issubclass(value, engine.EngineError), value.__name__


def test_the_surface_decides():
    eng = engine.load()
    assert isinstance(eng, engine.Engine)
    record = record_of(synth.generate(1, seed=3).drop(columns=["default_12m"]).iloc[0].to_dict())
    decision = eng.decide(record)
    assert isinstance(decision, engine.Decision) and decision.customer_id == record["customer_id"]
    assert decision.engine_version == engine.__version__


def test_importing_one_stage_does_not_load_the_pipeline():
    code = ("import sys, engine.records; "
            "print(int('engine.decider' in sys.modules), int('engine.tables' in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["0", "0"]
