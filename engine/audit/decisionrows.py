"""How a row of the decision chain is hashed and checked against its payload.

A row's canonical content, the digest its payload carries, and what must
hold between the payload and the row's columns, for a decision, for a
batch run's entry (``kind: batch_run``) and for a collection step that fell
due (``kind: collection_step``, ``engine.collections.steps``: its model id
column is ``STEP_MODEL``). The log (``engine.audit.log``), its
SQLite appender and the export check all take them from here, and hand
``DECISIONS`` to the one row check (``engine.audit.rowcheck``).

Each row also names the decision of the row before it (``prev_decision_id``,
inside the content its hashes cover), so that a deleted row is named by its
decision id, not only by its position. Rows logged before rows named their
predecessor hold an empty text there and are hashed without it, so an older
log verifies unchanged; ``PREVIOUS_GONE`` marks a row written when the row
before it was already missing. The link belongs to the row, not to the
decision: a decision's digest never covers it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

from engine.audit.rowcheck import Chained, sha256_text
from engine.decision import canonical_json

__all__ = ["DECISIONS", "PREVIOUS", "PREVIOUS_GONE", "RUN_CUSTOMER", "RUN_KIND", "STEP_KIND",
           "STEP_MODEL", "content_of", "entry_kind", "payload_digest", "run_models"]

RUN_KIND = "batch_run"
RUN_CUSTOMER = "(batch run)"
STEP_KIND = "collection_step"
STEP_MODEL = "(collections)"
#: The column naming the decision of the row before (empty in rows logged before it was kept).
PREVIOUS = "prev_decision_id"
#: What ``PREVIOUS`` holds when the row at the chain head was gone when the row was written.
PREVIOUS_GONE = "?"


def entry_kind(payload: str) -> str:
    """``batch_run``, ``collection_step`` or ``decision``: what a row's payload holds."""
    for kind in (RUN_KIND, STEP_KIND):
        if f'"kind":"{kind}"' in payload and json.loads(payload).get("kind") == kind:
            return kind
    return "decision"


def content_of(row: dict[str, Any]) -> str:
    """The canonical content of a row: what its hashes cover."""
    content = {
        "seq": int(row["seq"]),
        "decision_id": row["decision_id"],
        "customer_id": row["customer_id"],
        "as_of": row["as_of"],
        "created_at": row["created_at"],
        "table_hash": row["table_hash"],
        "model_id": row["model_id"],
        "payload": row["payload"],
    }
    previous = row.get(PREVIOUS)
    if previous:
        content[PREVIOUS] = previous
    if all(type(v) is str for k, v in content.items() if k != "seq"):
        # Texts and one integer: orjson spells them exactly as canonical_json does (it
        # differs only on some floats), without scanning the payload for floats.
        return orjson.dumps(content, option=orjson.OPT_SORT_KEYS).decode()
    return canonical_json(content)


def payload_digest(payload: dict[str, Any]) -> str:
    """The digest ``Decision.sealed`` computes, taken on the stored JSON without parsing a model."""
    data = dict(payload)
    data.pop("digest", None)
    return sha256_text(canonical_json(data))


def _payload_problem(row: dict[str, Any]) -> str | None:
    """What is wrong between the payload and the row's columns, if anything."""
    try:
        payload = json.loads(row["payload"])
    except ValueError as exc:
        return f"payload is not JSON ({exc})"
    if not isinstance(payload, dict):
        return "payload is not a JSON object"
    if payload.get("digest") != payload_digest(payload):
        return "payload edited: the decision's digest does not match its content"
    if payload.get("kind") == RUN_KIND:
        mirrored = {"decision_id": payload.get("run_id"), "customer_id": RUN_CUSTOMER,
                    "as_of": payload.get("as_of"),
                    "table_hash": (payload.get("tables") or {}).get("content_hash"),
                    "model_id": run_models(payload)}
        for column, value in mirrored.items():
            if row[column] != value:
                return f"column {column} = {row[column]!r} but the run entry says {value!r}"
        return None
    if payload.get("kind") == STEP_KIND:
        mirrored = {"decision_id": payload.get("step_id"),
                    "customer_id": payload.get("customer_id"), "as_of": payload.get("as_of"),
                    "table_hash": (payload.get("tables") or {}).get("content_hash"),
                    "model_id": STEP_MODEL}
        for column, value in mirrored.items():
            if row[column] != value:
                return f"column {column} = {row[column]!r} but the step says {value!r}"
        return None
    mirrored = {
        "decision_id": payload.get("decision_id"),
        "customer_id": payload.get("customer_id"),
        "as_of": payload.get("as_of"),
        "table_hash": (payload.get("tables") or {}).get("content_hash"),
        "model_id": (payload.get("score") or {}).get("model_id"),
    }
    for column, value in mirrored.items():
        if row[column] != value:
            return f"column {column} = {row[column]!r} but the payload says {value!r}"
    return None


def run_models(payload: Mapping[str, Any]) -> str:
    """The ``model_id`` column of a run's row: its model ids, comma-separated."""
    text = ",".join(sorted(payload.get("models") or {}))
    return text if len(text) <= 200 else f"({len(payload['models'])} models)"


#: The decision log's rows for the one row check (``engine.audit.rowcheck``).
DECISIONS = Chained("decision_log", "decision", (), lambda row: row["decision_id"],
                    _payload_problem, previous_key=PREVIOUS, key_column="decision_id",
                    content_of=content_of, unknown_previous=PREVIOUS_GONE)
