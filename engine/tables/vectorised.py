"""The population executor: the same compiled tables as numpy masks over a whole frame.

Each rule becomes the AND of its condition masks; hit policies pick rows'
winners with ``argmax`` over stacked masks; the per-row results (rules fired,
policies) are built once per distinct combination of fired rules, not once
per row, so a million customers cost a handful of array passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import DecisionError
from engine.records import vocabulary
from engine.tables.conditions import Column, encode_column, mask
from engine.tables.hitpolicy import priority_order
from engine.tables.model import FieldRef, Rule, Table

__all__ = ["Evaluation", "combinations", "evaluate", "rule_masks"]


@dataclass(frozen=True)
class Evaluation:
    """Per table, the (rules x rows) mask of rules that count; per output field, its values."""

    effective: Mapping[str, np.ndarray]
    outputs: Mapping[str, np.ndarray]
    index: pd.Index


def _objects(data: Any, n: int) -> np.ndarray:
    if data is None:
        return np.full(n, None, dtype=object)
    values = np.array(pd.Series(data).astype(object).to_numpy(dtype=object), copy=True)
    values[pd.isna(values)] = None
    return values


def rule_masks(table: Table, column: Callable[[str], Column], n: int) -> np.ndarray:
    """A (rules x rows) boolean matrix: where each rule's conditions all hold."""
    out = np.ones((len(table.rules), n), dtype=bool)
    for r in table.rules:
        for cond in r.when:
            out[r.index] &= mask(cond, column(cond.field))
    return out


def _first(masks: np.ndarray, order: Sequence[int] | None = None) -> np.ndarray:
    """Index of the winning rule per row (-1 where none matched)."""
    if order is not None:
        ranked = masks[list(order)]
        pos = ranked.argmax(axis=0)
        win = np.asarray(order)[pos]
        hit = ranked.any(axis=0)
    else:
        win = masks.argmax(axis=0)
        hit = masks.any(axis=0)
    return np.where(hit, win, -1)


def _label(index: pd.Index, row: int) -> str:
    return f" for row {index[row]!r}"


def _names(rules: Sequence[Rule]) -> str:
    return ", ".join(f"'{r.id}' ({r.location})" for r in rules)


def evaluate(tables: Sequence[Table], frame: pd.DataFrame) -> Evaluation:
    """Run every table over ``frame`` in execution order."""
    n = len(frame)
    vocab = vocabulary()
    mentioned: dict[str, list[Any]] = {}
    for t in tables:
        for r in t.rules:
            for c in r.when:
                vals = c.value if isinstance(c.value, tuple) else (c.value,)
                mentioned.setdefault(c.field, []).extend(vals)
    raw: dict[str, Any] = {}
    encoded: dict[str, Column] = {}

    def source(name: str) -> Any:
        if name in raw:
            return raw[name]
        return frame[name] if name in frame.columns else pd.Series([None] * n, dtype=object)

    def column(name: str) -> Column:
        if name not in encoded:
            encoded[name] = encode_column(vocab[name], source(name), mentioned.get(name, ()))
        return encoded[name]

    effective: dict[str, np.ndarray] = {}
    outputs: dict[str, np.ndarray] = {}
    for t in tables:
        masks = rule_masks(t, column, n)
        hit = t.hit_policy
        if hit in ("collect", "rule_order"):
            eff = masks
            win = None
        elif hit in ("first", "priority"):
            win = _first(masks, priority_order(t) if hit == "priority" else None)
            eff = np.zeros_like(masks)
            rows = np.flatnonzero(win >= 0)
            eff[win[rows], rows] = True
        else:
            counts = masks.sum(axis=0)
            if hit == "unique" and (counts > 1).any():
                row = int(np.flatnonzero(counts > 1)[0])
                rules = [t.rules[i] for i in np.flatnonzero(masks[:, row])]
                raise DecisionError(f"table '{t.name}' (hit policy unique)"
                                    f"{_label(frame.index, row)}: several rules match: "
                                    f"{_names(rules)}; make their conditions exclusive")
            win = _first(masks)
            eff = masks
        if not t.adds_policies:
            values = {name: np.full(n, None, dtype=object) for name in t.outputs}
            for r in t.rules:
                sel = win == r.index
                if not sel.any():
                    continue
                for name, v in r.sets:
                    if isinstance(v, FieldRef):
                        values[name][sel] = _objects(source(v.field), n)[sel]
                    else:
                        values[name][sel] = v
            if hit == "any":
                _check_any(t, masks, win, values, source, frame.index, n)
            for name, arr in values.items():
                outputs[name] = arr
                raw[name] = arr
                encoded.pop(name, None)
        elif hit == "any":
            _check_any(t, masks, win, {}, source, frame.index, n)
        effective[t.name] = eff
    return Evaluation(effective=effective, outputs=outputs, index=frame.index)


def _check_any(t: Table, masks: np.ndarray, win: np.ndarray, values: dict[str, np.ndarray],
               source: Callable[[str], Any], index: pd.Index, n: int) -> None:
    """Under ``any``, every matching rule must give the winner's outputs."""
    from engine.tables.hitpolicy import _policy_key

    for r in t.rules:
        rows = masks[r.index] & (win != r.index)
        if not rows.any():
            continue
        bad = np.zeros(n, dtype=bool)
        for name, v in r.sets:
            mine = _objects(source(v.field), n) if isinstance(v, FieldRef) else np.full(
                n, v, dtype=object)
            bad |= rows & (mine != values[name])
        keys = {i: _policy_key(t.rules[i]) for i in np.unique(win[rows])}
        mine_key = _policy_key(r)
        for i, key in keys.items():
            if key != mine_key:
                bad |= rows & (win == i)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            other = t.rules[int(win[row])]
            raise DecisionError(f"table '{t.name}' (hit policy any){_label(index, row)}: "
                                f"matching rules disagree: {_names([other, r])}; give them "
                                "the same outputs or use first/priority")


def combinations(masks: np.ndarray) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Group rows by the set of rules true for them.

    Returns ``(inverse, combos)``: row ``i`` has the rules ``combos[inverse[i]]``
    (indices into the mask's first axis, ascending).
    """
    n_rules, n = masks.shape
    if n_rules == 0 or n == 0:
        return np.zeros(n, dtype=np.int64), [()]
    packed = np.packbits(masks, axis=0)
    width = -(-packed.shape[0] // 8) * 8
    if width != packed.shape[0]:
        packed = np.vstack([packed, np.zeros((width - packed.shape[0], n), dtype=np.uint8)])
    words = np.ascontiguousarray(packed.T).view(np.uint64)
    if words.shape[1] == 1:
        uniq, inverse = np.unique(words[:, 0], return_inverse=True)
        uniq = uniq.reshape(-1, 1)
    else:
        uniq, inverse = np.unique(words, axis=0, return_inverse=True)
    bits = np.unpackbits(np.ascontiguousarray(uniq).view(np.uint8), axis=1)[:, :n_rules]
    combos = [tuple(int(i) for i in np.flatnonzero(row)) for row in bits]
    return inverse.reshape(-1), combos
