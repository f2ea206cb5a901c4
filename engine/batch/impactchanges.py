"""What changed beside the tables: the policy catalogue and the templates that explain.

A catalogue change (a title, a param's default, bounds or combination, a
conflict, a policy added or removed) can change decisions -- a default is
the value every rule that does not set the param gives -- and ``compare``
counts those customers; this module says what changed in the file.

A template change changes explanations, not decisions. Each changed file is
named with what it explains and how many decided customers' explanations it
touches: a policy's template those holding the policy, the decision and
notice layouts and the translations every decided customer, the report
pages nobody's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from engine.policies import Catalogue, Policy

__all__ = ["CATALOGUE_COLUMNS", "TEMPLATE_COLUMNS", "catalogue_changes", "template_changes"]

CATALOGUE_COLUMNS = ("policy", "change", "detail")
TEMPLATE_COLUMNS = ("file", "change", "explains", "customers")
LAYOUTS = ("templates/decision.", "templates/notice.")
EVERY_DECISION = "every decision"
REPORTS = "reports only"
_SPEC_FIELDS = ("type", "default", "min", "max", "unit", "choices", "combine")


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _policy_details(old: Policy, new: Policy) -> list[str]:
    out = [f"{key}: {_show(getattr(old, key))} -> {_show(getattr(new, key))}"
           for key in ("title", "category", "template") if getattr(old, key) != getattr(new, key)]
    if old.description != new.description:
        out.append("description changed")
    for name in dict.fromkeys([*old.params, *new.params]):
        a, b = old.params.get(name), new.params.get(name)
        if a is None:
            out.append(f"param {name} added (default {_show(b.default)})")  # type: ignore[union-attr]
        elif b is None:
            out.append(f"param {name} removed (default was {_show(a.default)})")
        else:
            out += [f"param {name} {key}: {_show(getattr(a, key))} -> {_show(getattr(b, key))}"
                    for key in _SPEC_FIELDS if getattr(a, key) != getattr(b, key)]
    if set(old.conflicts_with) != set(new.conflicts_with):
        out.append(f"conflicts_with: {_show(sorted(old.conflicts_with))} -> "
                   f"{_show(sorted(new.conflicts_with))}")
    return out


def catalogue_changes(before: Catalogue, after: Catalogue) -> pd.DataFrame:
    """One row per change of a policy: added, removed, or a changed title, param or conflict."""
    rows: list[dict[str, str]] = []
    for pid in dict.fromkeys([*before.policies, *after.policies]):
        if pid not in after:
            rows.append({"policy": pid, "change": "removed", "detail": before[pid].title})
        elif pid not in before:
            rows.append({"policy": pid, "change": "added", "detail": after[pid].title})
        else:
            rows += [{"policy": pid, "change": "changed", "detail": d}
                     for d in _policy_details(before[pid], after[pid])]
    return pd.DataFrame(rows, columns=list(CATALOGUE_COLUMNS))


def template_changes(before: Mapping[str, str], after: Mapping[str, str],
                     before_catalogue: Catalogue, after_catalogue: Catalogue,
                     holders: pd.DataFrame, decided: int) -> pd.DataFrame:
    """One row per template or translation file added, removed or changed.

    ``before`` and ``after`` map paths under ``policies/`` to their sha256
    (``engine.policies.template_hashes``); ``holders`` has the customers
    holding each policy on each side (``policy``, ``before``, ``after``).
    ``explains`` is the policy ids a file explains, ``every decision`` or
    ``reports only``; ``customers`` the decided customers whose explanations
    it touches (holders in the candidate, or in the baseline for a policy the
    candidate no longer grants).
    """
    held = {r.policy: (int(r.before), int(r.after)) for r in holders.itertuples(index=False)}
    uses: dict[str, list[str]] = {}
    for cat in (before_catalogue, after_catalogue):
        for p in cat:
            if p.id not in uses.setdefault(p.template, []):
                uses[p.template].append(p.id)
    rows = []
    for file in sorted(set(before) | set(after)):
        if before.get(file) == after.get(file):
            continue
        change = "added" if file not in before else "removed" if file not in after else "changed"
        if file in uses:
            pids = uses[file]
            customers = sum(held.get(p, (0, 0))[1] or held.get(p, (0, 0))[0] for p in pids)
            explains = ", ".join(pids)
        elif file.startswith(LAYOUTS) or file.endswith(".po"):
            explains, customers = EVERY_DECISION, decided
        else:
            explains, customers = REPORTS, 0
        rows.append({"file": file, "change": change, "explains": explains,
                     "customers": customers})
    frame = pd.DataFrame(rows, columns=list(TEMPLATE_COLUMNS))
    frame["customers"] = frame["customers"].astype("int64")
    return frame
