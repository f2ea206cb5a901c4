"""The one Jinja2 environment of the project's report pages.

The auditor report, the impact report and the service-quality report render
through it: sandboxed, autoescaped, strict about undefined names, with the
language's words and the ``pct``, ``count``, ``num`` and ``word`` filters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from engine.errors import InputError
from engine.language import Language
from engine.vocabulary import label

__all__ = ["report_environment", "write_page"]


def report_environment(folder: Path, t: Language) -> SandboxedEnvironment:
    """The sandboxed, autoescaped environment of the project's report pages (the auditor
    report, the impact report): ``t``'s words and the ``pct``, ``count``, ``num`` filters."""
    env = SandboxedEnvironment(loader=FileSystemLoader(str(folder)), autoescape=True,
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    t.install(env)
    env.filters["word"] = lambda code, kind: label(t, kind, code)
    env.filters["pct"] = lambda v, digits=1: "" if v is None else f"{float(v) * 100:.{digits}f} %"
    env.filters["count"] = lambda v: f"{int(v):,}"
    env.filters["num"] = lambda v, digits=4: (
        "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):.{digits}f}")
    return env


def write_page(path: str | Path, render: Callable[[], str], *, overwrite: bool = False) -> Path:
    """Render and write a report page atomically; an existing file is kept unless ``overwrite``.

    The page is rendered only once the target is known to be writable.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise InputError(f"{target}: file exists; use --overwrite to replace it")
    html = render()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_text(html, encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        raise InputError(f"{target}: cannot write the report ({exc.strerror})") from None
    return target
