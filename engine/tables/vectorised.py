"""The population executor: the same compiled tables as numpy masks over a whole frame.

Each rule becomes the AND of its condition masks (each distinct condition is
computed once per frame); hit policies pick rows' winners with ``argmax`` over
stacked masks. Every input column is encoded once per frame to floats or
category codes, and every output field stays as small-integer codes into its
few distinct values, so that a table reading an earlier table's output never
goes back through Python objects. Per-row results (rules fired, policy hits)
are built on demand, once per distinct combination of fired rules, never on
the path that only needs the output columns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import DecisionError
from engine.records import FieldSpec, vocabulary
from engine.tables.hitpolicy import policy_key, priority_order
from engine.tables.masks import Column, encode_column, mask
from engine.tables.model import FieldRef, Rule, Table

__all__ = ["Coded", "Evaluation", "combination_codes", "combinations", "encode_codes",
           "evaluate", "first_winners", "rule_masks"]


@dataclass(frozen=True)
class Coded:
    """A column as codes into its distinct values: ``values[codes[i]]``, -1 for null."""

    codes: np.ndarray
    values: tuple[Any, ...]

    def objects(self) -> np.ndarray:
        """The column as an object array, nulls as None."""
        table = np.empty(len(self.values) + 1, dtype=object)
        for i, v in enumerate(self.values):
            table[i] = v
        return table[self.codes]

    def categorical(self) -> pd.Categorical:
        return pd.Categorical.from_codes(self.codes, categories=pd.Index(self.values,
                                                                           dtype=object))


@dataclass(frozen=True)
class Evaluation:
    """What the tables matched over a frame, with results derived only when asked.

    ``masks`` are each table's (rules x rows) matches, ``winners`` the winning
    rule per row (-1 for none; None under collect / rule_order), ``coded`` each
    output field. ``effective`` (the rules that count per table) and
    ``outputs`` (object arrays) are built on first use.
    """

    tables: tuple[Table, ...]
    masks: Mapping[str, np.ndarray]
    winners: Mapping[str, np.ndarray | None]
    coded: Mapping[str, Coded]
    index: pd.Index
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def rule_effective(self, table: Table, rule: int) -> np.ndarray:
        """Rows where rule ``rule`` of ``table`` counts under the table's hit policy."""
        win = self.winners[table.name]
        if table.hit_policy in ("first", "priority") and win is not None:
            return win == rule
        return self.masks[table.name][rule]

    @property
    def effective(self) -> Mapping[str, np.ndarray]:
        """Per table, the (rules x rows) mask of rules that count."""
        if "effective" not in self._cache:
            out: dict[str, np.ndarray] = {}
            for t in self.tables:
                masks = self.masks[t.name]
                win = self.winners[t.name]
                if t.hit_policy in ("first", "priority") and win is not None:
                    eff = np.zeros_like(masks)
                    rows = np.flatnonzero(win >= 0)
                    eff[win[rows], rows] = True
                    out[t.name] = eff
                else:
                    out[t.name] = masks
            self._cache["effective"] = out
        return self._cache["effective"]

    @property
    def outputs(self) -> Mapping[str, np.ndarray]:
        """Per output field, its values as an object array (None for null)."""
        if "outputs" not in self._cache:
            self._cache["outputs"] = {k: c.objects() for k, c in self.coded.items()}
        return self._cache["outputs"]


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


def first_winners(masks: np.ndarray, order: Sequence[int] | None = None) -> np.ndarray:
    """Index of the winning rule per row (-1 where none matched).

    Rules are laid over each other from the last in ``order`` to the first,
    one contiguous mask row at a time: an argmax down the rule axis would
    copy the matrix into row order first.
    """
    win = np.full(masks.shape[1], -1, dtype=np.int64)
    for rule in reversed(list(order) if order is not None else range(len(masks))):
        np.putmask(win, masks[rule], rule)
    return win


def _label(index: pd.Index, row: int) -> str:
    return f" for row {index[row]!r}"


def _names(rules: Sequence[Rule]) -> str:
    return ", ".join(f"'{r.id}' ({r.location})" for r in rules)


# --------------------------------------------------------------------------- encoding

def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _is_null(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, float) and value != value)


class _Values:
    """Distinct output values, told apart by type as well as value (True is not 1)."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.codes: dict[tuple[type, Any], int] = {}

    def code(self, value: Any) -> int:
        value = _plain(value)
        if _is_null(value):
            return -1
        key = (type(value), value)
        if key not in self.codes:
            self.codes[key] = len(self.values)
            self.values.append(value)
        return self.codes[key]


def _factorized(data: pd.Series) -> Coded:
    """Any column as codes into its distinct values (hash-based, one pass)."""
    codes, uniques = pd.factorize(data, use_na_sentinel=True)
    values = _Values()
    remap = np.array([values.code(v) for v in np.asarray(uniques, dtype=object)] + [-1],
                     dtype=np.int64)
    return Coded(remap[codes], tuple(values.values))


def _from_coded(spec: FieldSpec, coded: Coded, mentioned: Sequence[Any]) -> Column:
    """Encode a coded column by encoding its few distinct values, then gathering."""
    if spec.kind not in ("int", "float", "bool") and all(
            isinstance(v, str) for v in (*coded.values, *mentioned)):
        cats = list(dict.fromkeys([*(spec.choices or ()), *mentioned]))
        index = {c: i for i, c in enumerate(cats)}
        lookup = np.array([index.get(v, -2) for v in coded.values] + [-1], dtype=np.int16)
        return Column("cat", lookup[coded.codes], index)
    small = encode_column(spec, pd.Series(list(coded.values), dtype=object), mentioned)
    null = -1 if small.kind == "cat" else np.nan
    lookup = np.append(small.values, np.array([null], dtype=small.values.dtype))
    return Column(small.kind, lookup[coded.codes], small.codes)


def encode_codes(spec: FieldSpec, data: pd.Series, mentioned: Sequence[Any]) -> Column:
    """``encode_column`` with the same results, without object arrays on common dtypes."""
    dtype = data.dtype
    numeric = isinstance(dtype, np.dtype) and dtype.kind in "iufb"
    if spec.kind in ("int", "float", "bool"):
        if numeric and not (spec.kind == "bool" and dtype.kind != "b"):
            return Column("num", data.to_numpy(dtype=np.float64))
        return encode_column(spec, data, mentioned)
    cats = list(dict.fromkeys([*(spec.choices or ()), *mentioned]))
    index = {c: i for i, c in enumerate(cats)}
    if isinstance(dtype, pd.StringDtype) and all(isinstance(c, str) for c in cats):
        found = pc.index_in(pa.array(data.array), value_set=pa.array(cats, type=pa.string()))
        codes = pc.fill_null(found, -2).to_numpy().astype(np.int16)
        codes[data.isna().to_numpy()] = -1
        return Column("cat", codes, index)
    if numeric:
        return encode_column(spec, data, mentioned)
    return _from_coded(spec, _factorized(data), mentioned)


# --------------------------------------------------------------------------- evaluation

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
    coded: dict[str, Coded] = {}
    encoded: dict[str, Column] = {}
    cond_masks: dict[tuple, np.ndarray] = {}
    sources: dict[str, Coded] = {}

    def column(name: str) -> Column:
        if name not in encoded:
            spec, said = vocab[name], mentioned.get(name, ())
            if name in coded:
                encoded[name] = _from_coded(spec, coded[name], said)
            elif name in frame.columns:
                encoded[name] = encode_codes(spec, frame[name], said)
            else:
                encoded[name] = _from_coded(spec, Coded(np.full(n, -1), ()), said)
        return encoded[name]

    def source(name: str) -> Coded:
        if name in coded:
            return coded[name]
        if name not in sources:
            sources[name] = (_factorized(frame[name]) if name in frame.columns
                             else Coded(np.full(n, -1), ()))
        return sources[name]

    def matched(t: Table) -> np.ndarray:
        out = np.ones((len(t.rules), n), dtype=bool)
        for r in t.rules:
            for c in r.when:
                key = (c.field, c.op, type(c.value), c.value)
                if key not in cond_masks:
                    cond_masks[key] = mask(c, column(c.field))
                np.logical_and(out[r.index], cond_masks[key], out=out[r.index])
        return out

    all_masks: dict[str, np.ndarray] = {}
    winners: dict[str, np.ndarray | None] = {}
    for t in tables:
        masks = matched(t)
        hit = t.hit_policy
        win: np.ndarray | None
        if hit in ("collect", "rule_order"):
            win = None
        elif hit in ("first", "priority"):
            win = first_winners(masks, priority_order(t) if hit == "priority" else None)
        else:
            counts = masks.sum(axis=0)
            if hit == "unique" and (counts > 1).any():
                row = int(np.flatnonzero(counts > 1)[0])
                rules = [t.rules[i] for i in np.flatnonzero(masks[:, row])]
                raise DecisionError(f"table '{t.name}' (hit policy unique)"
                                    f"{_label(frame.index, row)}: several rules match: "
                                    f"{_names(rules)}; make their conditions exclusive")
            win = first_winners(masks)
        if not t.adds_policies:
            produced = _table_outputs(t, win if win is not None else np.full(n, -1), source)
            if hit == "any":
                _check_any(t, masks, win, {k: c.objects() for k, c in produced.items()},
                           lambda name: source(name).objects(), frame.index, n)
            for name, values in produced.items():
                coded[name] = values
                encoded.pop(name, None)
                for key in [k for k in cond_masks if k[0] == name]:
                    del cond_masks[key]
        elif hit == "any":
            _check_any(t, masks, win, {}, lambda name: source(name).objects(), frame.index, n)
        all_masks[t.name] = masks
        winners[t.name] = win
    return Evaluation(tables=tuple(tables), masks=all_masks, winners=winners, coded=coded,
                      index=frame.index)


def _table_outputs(t: Table, win: np.ndarray, source: Callable[[str], Coded]
                   ) -> dict[str, Coded]:
    """Each output field of a table from its winners: one code per rule, gathered per row."""
    out: dict[str, Coded] = {}
    for name in t.outputs:
        values = _Values()
        per_rule = np.full(len(t.rules) + 1, -1, dtype=np.int64)
        refs: list[tuple[int, str]] = []
        for r in t.rules:
            v = dict(r.sets).get(name)
            if isinstance(v, FieldRef):
                refs.append((r.index, v.field))
            elif name in dict(r.sets):
                per_rule[r.index] = values.code(v)
        codes = per_rule[win]
        for index, ref in refs:
            sel = win == index
            if sel.any():
                src = source(ref)
                remap = np.array([values.code(v) for v in src.values] + [-1], dtype=np.int64)
                codes[sel] = remap[src.codes[sel]]
        out[name] = Coded(codes, tuple(values.values))
    return out


def _check_any(t: Table, masks: np.ndarray, win: np.ndarray, values: dict[str, np.ndarray],
               source: Callable[[str], Any], index: pd.Index, n: int) -> None:
    """Under ``any``, every matching rule must give the winner's outputs."""

    for r in t.rules:
        rows = masks[r.index] & (win != r.index)
        if not rows.any():
            continue
        bad = np.zeros(n, dtype=bool)
        for name, v in r.sets:
            mine = _objects(source(v.field), n) if isinstance(v, FieldRef) else np.full(
                n, v, dtype=object)
            bad |= rows & (mine != values[name])
        keys = {i: policy_key(t.rules[i]) for i in np.unique(win[rows])}
        mine_key = policy_key(r)
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


def combination_codes(masks: np.ndarray) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """``combinations`` by hashing one integer per row: the rules' bits, up to 63 rules.

    Same result as ``combinations`` (row ``i`` has the rules
    ``combos[inverse[i]]``), without sorting rows: a linear pass per rule and
    one hash-based factorisation.
    """
    n_rules, n = masks.shape
    if n_rules > 63:
        return combinations(masks)
    if n_rules == 0 or n == 0:
        return np.zeros(n, dtype=np.int64), [()]
    key = np.zeros(n, dtype=np.int64)
    for i in range(n_rules):
        key |= masks[i].astype(np.int64) << i
    inverse, uniq = pd.factorize(key)
    combos = [tuple(i for i in range(n_rules) if (int(k) >> i) & 1) for k in uniq]
    return inverse.astype(np.int64), combos
