"""The collection tables of a project, loaded together and checked by ``rules check``.

``rules/collections.yaml`` (strategies) and ``rules/protections.yaml`` (protection
kinds) sit beside the decision tables and the event rules; the table loader skips
them (they hold no ``table:``) and ``engine.rulecheck`` reports their problems
through ``check_collection_rules`` with the file:line of each.
"""

from __future__ import annotations

from pathlib import Path

from engine.collections.cases import CollectionTables
from engine.collections.protections import load_protections
from engine.collections.strategy import load_strategies
from engine.errors import ConfigError, ConfigErrors, did_you_mean
from engine.policies import Catalogue
from engine.tables.analysis import Finding

__all__ = ["STRATEGIES_FILE", "PROTECTIONS_FILE", "check_collection_rules",
           "load_collection_tables"]

STRATEGIES_FILE = "collections.yaml"
PROTECTIONS_FILE = "protections.yaml"


def load_collection_tables(rules_dir: str | Path, catalogue: Catalogue) -> CollectionTables:
    """Both collection tables of ``rules_dir``; a missing or broken one is a ``ConfigError``."""
    rules = Path(rules_dir)
    for name in (STRATEGIES_FILE, PROTECTIONS_FILE):
        if not (rules / name).is_file():
            raise ConfigError(f"no {name} in {rules}: collections need rules/{STRATEGIES_FILE} "
                              f"and rules/{PROTECTIONS_FILE}", file=str(rules / name))
    return CollectionTables(load_strategies(rules / STRATEGIES_FILE, catalogue),
                            load_protections(rules / PROTECTIONS_FILE), catalogue)


def check_collection_rules(rules_dir: str | Path, catalogue: Catalogue) -> list[Finding]:
    """Every problem of the collection tables present in ``rules_dir``, as findings."""
    rules = Path(rules_dir)
    out: list[Finding] = []
    for name, load in ((STRATEGIES_FILE, lambda p: load_strategies(p, catalogue)),
                       (PROTECTIONS_FILE, load_protections)):
        path = rules / name
        if not path.is_file():
            continue
        try:
            load(path)
        except ConfigErrors as exc:
            out += [_finding(e, name) for e in exc.errors]
        except ConfigError as exc:
            out.append(_finding(exc, name))
    return out


def _finding(exc: ConfigError, name: str) -> Finding:
    return Finding(exc.file or name, exc.line or 1, "collections", "collections",
                   exc.reason + did_you_mean(exc.suggestion))
