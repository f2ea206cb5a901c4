"""Service floors: the service every customer keeps whatever the grade (paper 3.2).

Differentiated service is meant to serve customers better, not to widen the
service gap. The policy catalogue declares, under ``floors:``, each measured
service level that no grade or segment may fall below::

    floors:
      repair_hours:
        title: Repair within the committed hours
        description: ...
        unit: hours
        better: lower              # lower | higher: which way is better service
        floor: 8                   # no customer may be granted worse than this
        standard: 8                # what a customer holding none of the policies below gets
        granted_by:                # the policy params that set the level when held
          - {policy: priority_repair_channel, param: response_target_hours}
        spread_threshold: 4        # widest allowed gap of the level between best and worst grade

A customer's level is the best of the values its held ``granted_by`` params
take, else ``standard``. ``engine.rulecheck`` refuses a rule that grants a
level worse than the floor (``file:line``); ``engine.batch.impactfloors``
measures each grade's level over a population and reports a spread between
the best and the worst grade that grows beyond ``spread_threshold``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ConfigError, closest
from engine.yamlfile import LocatedList, LocatedMap, read_yaml

__all__ = ["Floor", "Floors", "load_floors"]

_KEYS = ("title", "description", "unit", "better", "floor", "standard", "granted_by",
         "spread_threshold")


@dataclass(frozen=True)
class Floor:
    """One service level every customer keeps, as the catalogue declares it."""

    id: str
    title: str
    description: str
    unit: str
    better: str
    floor: float
    standard: float
    granted_by: tuple[tuple[str, str], ...]
    spread_threshold: float
    file: str
    line: int

    def worse(self, value: float) -> bool:
        """Whether ``value`` is worse service than the floor."""
        return value > self.floor if self.better == "lower" else value < self.floor

    def best(self, values: list[float]) -> float:
        return min(values) if self.better == "lower" else max(values)

    def gap(self, best_grade: float, worst_grade: float) -> float:
        """How much worse the worst grade is served than the best (negative: better)."""
        return worst_grade - best_grade if self.better == "lower" else best_grade - worst_grade

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Floors:
    """Every floor of one catalogue, by id."""

    by_id: Mapping[str, Floor]
    file: str

    def __iter__(self) -> Iterator[Floor]:
        return iter(self.by_id.values())

    def __len__(self) -> int:
        return len(self.by_id)


def _number(body: LocatedMap, key: str, fid: str, file: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"floor '{fid}': '{key}' must be a number, not {value!r}", file=file,
                          line=body.line_of(key))
    return float(value)


def _granted_by(body: LocatedMap, fid: str, file: str, policies: Mapping[str, object]
                ) -> tuple[tuple[str, str], ...]:
    raw = body.get("granted_by", [])
    if not isinstance(raw, LocatedList):
        raise ConfigError(f"floor '{fid}': 'granted_by' must be a list of "
                          "{policy: ..., param: ...}", file=file, line=body.line_of("granted_by"))
    out = []
    for i, item in enumerate(raw):
        line = raw.line_of(i)
        if not isinstance(item, LocatedMap) or set(item) != {"policy", "param"}:
            raise ConfigError(f"floor '{fid}': each 'granted_by' item is "
                              "{policy: ..., param: ...}", file=file, line=line)
        pid, param = str(item["policy"]), str(item["param"])
        policy = policies.get(pid)
        if policy is None:
            raise ConfigError(f"floor '{fid}': unknown policy '{pid}'", file=file, line=line,
                              suggestion=closest(pid, policies))
        known = getattr(policy, "params", {})
        if param not in known:
            raise ConfigError(f"floor '{fid}': policy '{pid}' has no param '{param}'",
                              file=file, line=line, suggestion=closest(param, known))
        out.append((pid, param))
    return tuple(out)


def _floor(fid: str, body: object, line: int, file: str, policies: Mapping[str, object]
           ) -> Floor:
    if not isinstance(body, LocatedMap):
        raise ConfigError(f"floor '{fid}' must be a mapping of {', '.join(_KEYS)}", file=file,
                          line=line)
    unknown = [k for k in body if k not in _KEYS]
    if unknown:
        raise ConfigError(f"floor '{fid}': unknown key '{unknown[0]}'", file=file,
                          line=body.line_of(unknown[0]), suggestion=closest(unknown[0], _KEYS))
    better = body.get("better")
    if better not in ("lower", "higher"):
        raise ConfigError(f"floor '{fid}': 'better' must be lower or higher, not {better!r}",
                          file=file, line=body.line_of("better"))
    floor = Floor(id=fid, title=str(body.get("title", fid)),
                  description=" ".join(str(body.get("description", "")).split()),
                  unit=str(body.get("unit", "")), better=better,
                  floor=_number(body, "floor", fid, file),
                  standard=_number(body, "standard", fid, file),
                  granted_by=_granted_by(body, fid, file, policies),
                  spread_threshold=_number(body, "spread_threshold", fid, file),
                  file=file, line=line)
    if floor.worse(floor.standard):
        raise ConfigError(f"floor '{fid}': the standard level {floor.standard:g} is worse than "
                          f"the floor {floor.floor:g} itself", file=file,
                          line=body.line_of("standard"))
    return floor


def load_floors(catalogue: str | Path, policies: Mapping[str, object] | None = None) -> Floors:
    """The ``floors:`` of a catalogue file (none when it declares none).

    ``policies`` (the catalogue's policies by id) lets every ``granted_by``
    be checked against a real policy param.
    """
    file = str(catalogue)
    doc = read_yaml(catalogue)
    raw = doc.get("floors") if isinstance(doc, LocatedMap) else None
    if raw is None:
        return Floors({}, file)
    if not isinstance(raw, LocatedMap):
        raise ConfigError("'floors:' must map each floor id to its definition", file=file,
                          line=doc.line_of("floors"))
    known = policies if policies is not None else {}
    if policies is None and isinstance(doc.get("policies"), LocatedMap):
        known = {pid: _Params(body) for pid, body in doc["policies"].items()}
    return Floors({fid: _floor(str(fid), body, raw.line_of(fid), file, known)
                   for fid, body in raw.items()}, file)


@dataclass(frozen=True)
class _Params:
    """A policy as the raw catalogue writes it: only its param names are needed here."""

    body: object

    @property
    def params(self) -> Mapping[str, object]:
        params = self.body.get("params") if isinstance(self.body, Mapping) else None
        return params if isinstance(params, Mapping) else {}
