"""The one check of a hash-chained row, for every chain and for exports.

Every chained table (decisions, archive, releases, payment events, event
outcomes) links its rows the same way::

    content_hash = sha256(canonical content)
    row_hash     = sha256(prev_hash + canonical content)
    prev_hash    = row_hash of the row before (64 zeros for the first row)

What differs between the tables is only which columns the canonical content
covers, how a row is named in a message, and what else must hold of its
payload: a ``Chained`` says that for one table. ``check_rows`` walks rows in
sequence order and names the first that fails; ``audit verify``, the export
check and ``verify --export`` all go through it.

A chain whose rows store the key of the row before (``previous_key``: payment
events, their outcomes and decisions) can name a deleted row, not only its
position. The decision log also holds rows written before they stored it
(``unknown_previous`` set): a deleted row before one of those, or before a
row written when it was already gone, is reported as not knowable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.decision import canonical_json, sha256_hex

__all__ = ["GENESIS", "ChainReport", "Chained", "check_rows", "chain_hash", "row_problem",
           "sha256_text"]

#: The prev_hash of the first row of every chain.
GENESIS = "0" * 64


def sha256_text(text: str) -> str:
    return sha256_hex(text.encode())


def chain_hash(prev_hash: str, content: str) -> str:
    """``sha256(prev_hash + content)``: the link from one row to the next."""
    return sha256_hex((prev_hash + content).encode())


def _no_problem(_row: Mapping[str, Any]) -> str | None:
    return None


@dataclass(frozen=True)
class Chained:
    """How the rows of one chained table are hashed, named and checked."""

    table: str
    noun: str  # what a row is, in messages: "decision", "event", "outcome" ("": the name says)
    columns: tuple[str, ...]  # what the canonical content covers, besides seq
    name_of: Callable[[Mapping[str, Any]], str]  # the row's id as a message names it
    payload_problem: Callable[[Mapping[str, Any]], str | None] = _no_problem
    previous_key: str | None = None  # column holding the previous row's key
    key_column: str = ""  # the column whose value ``previous_key`` stores
    content_of: Callable[[Mapping[str, Any]], str] | None = None  # overrides ``columns``
    # ``previous_key``'s value in a row written when the row before was already gone; set by
    # a chain whose older rows name no predecessor (an empty text there)
    unknown_previous: str | None = None

    def content(self, row: Mapping[str, Any]) -> str:
        """The canonical content of a row: what its two hashes cover."""
        if self.content_of is not None:
            return self.content_of(row)
        data = {c: row[c] for c in self.columns}
        data["seq"] = int(row["seq"])
        return canonical_json(data)

    def link(self, rows: list[dict[str, Any]], seq: int, prev: str, previous: str | None
             ) -> tuple[int, str]:
        """Number and hash ``rows`` after the head ``(seq, prev)``, in place; the new head.

        ``previous`` is the key of the row at the head (None at the start of
        the chain), stored in each row's ``previous_key`` column when the
        chain keeps one.
        """
        for row in rows:
            seq += 1
            row["seq"] = seq
            if self.previous_key is not None:
                row[self.previous_key] = previous or ""
                previous = row[self.key_column]
            content = self.content(row)
            row["content_hash"] = sha256_text(content)
            row["prev_hash"] = prev
            row["row_hash"] = prev = chain_hash(prev, content)
        return seq, prev


@dataclass(frozen=True)
class ChainReport:
    """The outcome of recomputing one chain.

    ``first_broken`` is the sequence number of the first row that fails (for a
    missing row, the number that is missing); ``subject`` names that row (a
    decision id, an event id) when it can be known; ``head_hash`` is the last
    good row hash.
    """

    chain: str
    ok: bool
    rows: int
    first_broken: int | None
    reason: str
    subject: str | None = None
    head_hash: str = GENESIS


def row_problem(kind: Chained, row: Mapping[str, Any], expected: int, prev: str
                ) -> tuple[int, str, str | None] | None:
    """The first check a row fails, as (row number, what differs, which row), or None."""
    seq = int(row["seq"])
    if seq != expected:
        return expected, _missing(kind, row, expected, seq), _previous(kind, row)
    name = kind.name_of(row)
    called = f"{kind.noun} {name}".strip()
    if row["prev_hash"] != prev:
        return seq, (
            f"prev_hash {row['prev_hash'][:12]}... of {called} does not match the "
            f"row_hash {prev[:12]}... of row {seq - 1} (a row was removed, inserted or moved)"
        ), name
    content = kind.content(row)
    if row["content_hash"] != sha256_text(content):
        problem = kind.payload_problem(row) or (
            f"content_hash {row['content_hash'][:12]}... does not match the row's content "
            f"{sha256_text(content)[:12]}... (a column, seq, created_at or content_hash itself "
            "was edited)")
        return seq, f"content edited: {problem}" if kind.noun == "decision" else (
            f"{called}: content edited: {problem}"), name
    if row["row_hash"] != chain_hash(prev, content):
        return seq, (
            f"row_hash {row['row_hash'][:12]}... is not sha256(prev_hash + content) = "
            f"{chain_hash(prev, content)[:12]}... (the stored hash was edited)"), name
    problem = kind.payload_problem(row)
    return (seq, problem, name) if problem else None


def _previous(kind: Chained, row: Mapping[str, Any]) -> str | None:
    """The key of the row before ``row`` as ``row`` records it, when it is known."""
    before = row.get(kind.previous_key) if kind.previous_key else None
    return before if before and before != kind.unknown_previous else None


def _missing(kind: Chained, row: Mapping[str, Any], expected: int, seq: int) -> str:
    """Why row ``expected`` is missing, naming it by its key when the next row records it."""
    gap = f"the next row has seq {seq} (rows were deleted or renumbered)"
    before = _previous(kind, row)
    if before is not None or kind.unknown_previous is None:
        who = f" ({kind.noun} {before})" if before else ""
        return f"row {expected}{who} is missing: {gap}"
    after = f"{kind.noun} {kind.name_of(row)}".strip()
    if row.get(kind.previous_key) == kind.unknown_previous:
        why = f"it was already missing when the row after it ({after}) was written"
    else:
        why = (f"the row after it ({after}) was logged before each row recorded the "
               f"{kind.noun} of the row before it")
    return f"row {expected} is missing: {gap}; which {kind.noun} it held cannot be known: {why}"


def check_rows(kind: Chained, rows: Iterable[Mapping[str, Any]],
               head: tuple[int, str] | None = None, *, first: int = 1,
               prev: str = GENESIS) -> ChainReport:
    """Check rows in sequence order from ``first`` (chained from ``prev``) against ``head``.

    Without a head (an export range) only the rows themselves are checked.
    """
    count = 0
    for row in rows:
        problem = row_problem(kind, row, first + count, prev)
        if problem:
            at, reason, subject = problem
            return ChainReport(kind.table, False, count, at, reason, subject, prev)
        prev, count = row["row_hash"], count + 1
    if head is not None:
        head_seq, head_hash = head
        last = first + count - 1
        if head_seq != last or head_hash != prev:
            return ChainReport(
                kind.table, False, count, last + 1 if head_seq > last else head_seq,
                f"the chain head records {head_seq} rows ending in {head_hash[:12]}... but the "
                f"table has {count} ending in {prev[:12]}... (rows were cut from the end, or "
                "the head was edited)", None, prev)
    return ChainReport(kind.table, True, count, None, f"{count} rows, chain intact", None, prev)
