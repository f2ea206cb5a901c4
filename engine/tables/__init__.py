"""Decision tables in YAML: load them, check them, run them one decision or a population at a time.

The public surface::

    ts = load_table_set(config.rules_dir, catalogue)   # immutable TableSet, or TableSetError
    ts.decide(facts)                      # TableResult via the compiled matchers
    ts.decide(facts, executor="durable")  # the same through durable-rules (the reference)
    ts.decide_frame(frame)                # DataFrame via numpy masks
    check_table_set(ts)                   # static findings (gaps, overlaps, ...)
    load_texts({name: text}, catalogue)   # (tables, errors) from texts not yet written
"""

from engine.tables.analysis import Finding, check_table_set, run_examples
from engine.tables.loader import is_table_document, load_texts
from engine.tables.model import (
    HIT_POLICIES,
    Example,
    FieldRef,
    PolicyAction,
    PolicyHit,
    Rule,
    RuleHit,
    Table,
    TableResult,
)
from engine.tables.schema import table_schema
from engine.tables.tableset import (
    FIRED_PREFIX,
    TableSet,
    load_table_set,
)

__all__ = [
    "FIRED_PREFIX",
    "HIT_POLICIES",
    "Example",
    "FieldRef",
    "Finding",
    "PolicyAction",
    "PolicyHit",
    "Rule",
    "RuleHit",
    "Table",
    "TableResult",
    "TableSet",
    "check_table_set",
    "is_table_document",
    "load_table_set",
    "load_texts",
    "run_examples",
    "table_schema",
]
