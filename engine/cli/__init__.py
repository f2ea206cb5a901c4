"""The ``gridcredit`` command line: a thin layer over the library.

Each submodule registers the commands of one area on ``app``; library errors
become a one-line message on stderr and the error's exit code.
"""

from __future__ import annotations

from engine.cli import audit as _audit  # noqa: F401
from engine.cli import collections as _collections  # noqa: F401
from engine.cli import data as _data  # noqa: F401  (each import registers commands)
from engine.cli import datafiles as _datafiles  # noqa: F401
from engine.cli import decisions as _decisions  # noqa: F401
from engine.cli import events as _events  # noqa: F401
from engine.cli import keys as _keys  # noqa: F401
from engine.cli import model as _model  # noqa: F401
from engine.cli import models as _models  # noqa: F401
from engine.cli import monitor as _monitor  # noqa: F401
from engine.cli import releases as _releases  # noqa: F401
from engine.cli import rules as _rules  # noqa: F401
from engine.cli import serve as _serve  # noqa: F401
from engine.cli import servicequality as _servicequality  # noqa: F401
from engine.cli import studio as _studio  # noqa: F401
from engine.cli.apps import app

__all__ = ["app", "main"]


def main() -> None:
    app()
