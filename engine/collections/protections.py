"""Protections that outrank risk: ``rules/protections.yaml`` and the periods they hold.

A kind (medical certificate, life support, critical load, dispute, vulnerable,
weather hold, and any kind staff add) says how long a grant lasts when it names
no ``until`` (``lasts_days``; null = until a ``protection_ended``), the longest
``until`` it may name (``max_days``), the classes it applies to and the
collection actions it blocks. A kind with ``from_record`` holds for as long as
the customer's record carries that flag (``critical_load``), with no event.

``periods_of`` turns a customer's ``protection_granted`` / ``protection_ended``
events into ``Protection`` periods (inclusive first and last day; ``until`` None
= open-ended); ``holding`` says which of them holds a step's date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.collections.strategy import ACTIONS
from engine.errors import ConfigError, ConfigErrors, closest
from engine.records import CLASSES as CUSTOMER_CLASSES
from engine.yamlfile import LocatedList, LocatedMap, read_yaml

__all__ = ["Protection", "ProtectionKind", "ProtectionTable", "as_date", "holding",
           "load_protections", "periods_of", "protection_kinds"]

_KIND_KEYS = ("description", "source", "lasts_days", "max_days", "blocks", "classes",
              "from_record")
_RECORD_FLAGS = ("critical_load",)


@dataclass(frozen=True)
class ProtectionKind:
    """One kind of protection, as the table defines it."""

    kind: str
    description: str
    source: str
    lasts_days: int | None
    max_days: int | None
    blocks: tuple[str, ...]
    classes: tuple[str, ...]
    from_record: str | None
    line: int


@dataclass(frozen=True)
class ProtectionTable:
    """Every protection kind by name, with the file it came from."""

    version: str
    file: str
    kinds: Mapping[str, ProtectionKind]


@dataclass(frozen=True)
class Protection:
    """A protection period: ``start`` to ``until`` inclusive (None = until ended)."""

    kind: str
    start: dt.date
    until: dt.date | None
    reference: str | None
    blocks: tuple[str, ...]

    def holds_on(self, day: dt.date) -> bool:
        return self.start <= day and (self.until is None or day <= self.until)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "from": self.start.isoformat(),
                "until": self.until.isoformat() if self.until else None,
                "reference": self.reference}


def load_protections(path: str | Path, actions: Sequence[str] = tuple(ACTIONS)
                     ) -> ProtectionTable:
    """Read and check ``rules/protections.yaml``; every problem is raised at once."""
    file = str(path)
    doc = read_yaml(path)
    found: list[ConfigError] = []

    def err(message: str, line: int, hint: str | None = None) -> None:
        found.append(ConfigError(message, file=file, line=line, suggestion=hint))

    kinds: dict[str, ProtectionKind] = {}
    raw = doc.get("kinds") if isinstance(doc, LocatedMap) else None
    if not isinstance(raw, LocatedMap) or not raw:
        raise ConfigError("a protections file maps 'kinds:' to at least one kind",
                          file=file, line=getattr(doc, "line", 1))
    for name, body in raw.items():
        kind = _kind(str(name), body, raw.line_of(name), actions, err)
        if kind is not None:
            kinds[kind.kind] = kind
    if found:
        raise ConfigErrors(found)
    return ProtectionTable(str(doc.get("version", "")), file, kinds)


def _days(body: LocatedMap, key: str, name: str, err: Any) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650:
        err(f"protection '{name}': {key} must be a whole number of days from 1 to 3650, or "
            f"null, not {value!r}", body.line_of(key))
        return None
    return value


def _kind(name: str, body: Any, line: int, actions: Sequence[str], err: Any
          ) -> ProtectionKind | None:
    if not isinstance(body, LocatedMap):
        err(f"protection '{name}' is a mapping with " + ", ".join(_KIND_KEYS), line)
        return None
    for key in body:
        if key not in _KIND_KEYS:
            err(f"protection '{name}': unknown key '{key}': use " + ", ".join(_KIND_KEYS),
                body.line_of(key), closest(key, _KIND_KEYS))
    blocks = body.get("blocks")
    if not isinstance(blocks, LocatedList) or not blocks:
        err(f"protection '{name}': 'blocks' must list the actions it stops", body.line_of("blocks"))
        blocks = []
    for i, action in enumerate(blocks):
        if action not in actions:
            err(f"protection '{name}': cannot block {action!r}: use one of " + ", ".join(actions),
                blocks.line_of(i), closest(action, actions))
    classes = body.get("classes") or list(CUSTOMER_CLASSES)
    for c in classes:
        if c not in CUSTOMER_CLASSES:
            err(f"protection '{name}': unknown customer class {c!r}", body.line_of("classes"),
                closest(c, CUSTOMER_CLASSES))
    record = body.get("from_record")
    if record is not None and record not in _RECORD_FLAGS:
        err(f"protection '{name}': from_record {record!r}: use one of "
            + ", ".join(_RECORD_FLAGS), body.line_of("from_record"), closest(record, _RECORD_FLAGS))
    lasts, most = _days(body, "lasts_days", name, err), _days(body, "max_days", name, err)
    if lasts is not None and most is not None and lasts > most:
        err(f"protection '{name}': lasts_days {lasts} is more than max_days {most}",
            body.line_of("lasts_days"))
    return ProtectionKind(name, str(body.get("description", "")), str(body.get("source", "")),
                          lasts, most, tuple(blocks), tuple(classes), record, line)


def as_date(value: Any) -> dt.date:
    """A date given as a date, a datetime (its day) or ISO text (its first ten characters)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def protection_kinds(path: str | Path) -> tuple[str, ...] | None:
    """The kinds a protection event may name: those of the table at ``path`` (None: no table)."""
    return tuple(load_protections(path).kinds) if Path(path).is_file() else None


def periods_of(events: Iterable[Mapping[str, Any]], table: ProtectionTable,
               customer_class: str, record_flags: Mapping[str, Any],
               first_day: dt.date) -> list[Protection]:
    """The customer's protection periods from its events (time order) and record flags.

    ``events`` are the validated fields of stored events with a ``day`` (date)
    added; a grant with no ``until`` lasts ``lasts_days`` (or until ended); a
    ``protection_ended`` ends the open grants of its kind (of its reference, when
    it names one) on the day before it. Kinds that do not apply to the class
    are left out; a record flag holds from ``first_day`` on.
    """
    out: list[Protection] = []
    open_: list[dict[str, Any]] = []
    for e in events:
        kind = table.kinds.get(e.get("kind", ""))
        if kind is None or customer_class not in kind.classes:
            continue
        day: dt.date = e["day"]
        if e["type"] == "protection_granted":
            until = as_date(e["until"]) if e.get("until") else (
                day + dt.timedelta(days=kind.lasts_days - 1) if kind.lasts_days else None)
            open_.append({"kind": kind, "start": day, "until": until,
                          "reference": e.get("reference")})
        elif e["type"] == "protection_ended":
            for p in open_:
                if p["kind"].kind == kind.kind and p.get("ended") is None and \
                        e.get("reference") in (None, p["reference"]):
                    end = day - dt.timedelta(days=1)
                    p["until"] = end if p["until"] is None else min(p["until"], end)
                    p["ended"] = day
    out += [Protection(p["kind"].kind, p["start"], p["until"], p["reference"], p["kind"].blocks)
            for p in open_ if p["until"] is None or p["until"] >= p["start"]]
    for kind in table.kinds.values():
        if kind.from_record and record_flags.get(kind.from_record) and \
                customer_class in kind.classes:
            out.append(Protection(kind.kind, first_day, None, "customer record", kind.blocks))
    return out


def holding(protections: Sequence[Protection], action: str, day: dt.date) -> Protection | None:
    """The protection that blocks ``action`` on ``day`` (the one lasting longest), or None."""
    found = [p for p in protections if action in p.blocks and p.holds_on(day)]
    if not found:
        return None
    return max(found, key=lambda p: (p.until is None, p.until or p.start))
