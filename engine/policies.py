"""The policy catalogue: every differentiated service policy, its typed bounded params.

Decision tables name policies by id and may override their params; the
catalogue is where each id is defined once, with defaults drawn from
published utility practice, the bounds a table may not leave, the policies it
must never be combined with, and the template that explains it. Loading is a
pure function: it returns a frozen ``Catalogue`` or raises ``ConfigError``
naming ``file:line``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.errors import ConfigError, closest
from engine.yamlfile import LocatedMap, plain, read_yaml

__all__ = ["CATEGORIES", "COMBINATIONS", "PARAM_TYPES", "Catalogue", "ParamSpec", "Policy",
           "load_catalogue", "template_hashes"]

CATEGORIES = ("service", "outage", "pricing", "collection", "enforcement", "incentive")
PARAM_TYPES = ("int", "float", "bool", "str")
#: How the values of one parameter combine when several rules grant the same policy:
#: ``first`` keeps the first granting rule's value (in execution order), ``min`` / ``max``
#: the smallest / largest number, ``any`` / ``all`` OR / AND a flag.
COMBINATIONS = {"first": ("int", "float", "bool", "str"), "min": ("int", "float"),
                "max": ("int", "float"), "any": ("bool",), "all": ("bool",)}
_POLICY_KEYS = ("title", "category", "description", "params", "conflicts_with", "template")
_PARAM_KEYS = ("type", "default", "min", "max", "unit", "description", "choices", "combine")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a policy: its type, default and the bounds tables must respect."""

    type: str
    default: Any
    min: float | None = None
    max: float | None = None
    unit: str = ""
    description: str = ""
    choices: tuple[str, ...] | None = None
    combine: str | None = None

    def combined(self, values: Sequence[Any]) -> Any:
        """One value from the values several granting rules give (in execution order).

        Equal values need no declared combination; unequal ones without one keep
        the first value, and ``rules check`` reports them as a clash.
        """
        first = values[0]
        if all(v == first for v in values[1:]):
            return first
        how = self.combine or "first"
        if how == "min":
            return min(values)
        if how == "max":
            return max(values)
        if how == "any":
            return any(values)
        if how == "all":
            return all(values)
        return first

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable for this parameter, or None when it is."""
        if self.type == "bool":
            return None if isinstance(value, bool) else f"must be true or false, not {value!r}"
        if self.type == "str":
            if not isinstance(value, str):
                return f"must be text, not {value!r}"
            if self.choices and value not in self.choices:
                return f"must be one of {', '.join(self.choices)}, not {value!r}"
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, not {value!r}"
        if self.type == "int" and not float(value).is_integer():
            return f"must be a whole number, not {value!r}"
        if self.min is not None and value < self.min:
            return f"{value!r} is below its minimum {self.min:g}{_unit(self.unit)}"
        if self.max is not None and value > self.max:
            return f"{value!r} is above its maximum {self.max:g}{_unit(self.unit)}"
        return None


def _unit(unit: str) -> str:
    return f" {unit}" if unit and unit != "-" else ""


@dataclass(frozen=True)
class Policy:
    """A differentiated service policy as the catalogue defines it."""

    id: str
    title: str
    category: str
    description: str
    params: Mapping[str, ParamSpec]
    conflicts_with: tuple[str, ...]
    template: str
    line: int = 0

    def defaults(self) -> dict[str, Any]:
        return {name: spec.default for name, spec in self.params.items()}


@dataclass(frozen=True)
class Catalogue:
    """Every policy by id; immutable once loaded."""

    policies: Mapping[str, Policy]
    file: str
    version: str
    content_hash: str
    root: Path
    explanations: Mapping[str, Any] = field(default_factory=dict)  # engine.reasons checks it

    def __contains__(self, policy_id: object) -> bool:
        return policy_id in self.policies

    def __iter__(self) -> Iterator[Policy]:
        return iter(self.policies.values())

    def __len__(self) -> int:
        return len(self.policies)

    def __getitem__(self, policy_id: str) -> Policy:
        return self.policies[policy_id]

    def suggest(self, policy_id: str) -> str | None:
        """The closest known policy id, for a did-you-mean."""
        return closest(policy_id, self.policies)

    def merged_params(self, policy_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Catalogue defaults overridden by a rule's params."""
        return {**self.policies[policy_id].defaults(), **params}

    def combine(self, policy_id: str, grants: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The params a customer gets when several rules grant ``policy_id`` (merged each)."""
        if len(grants) == 1:
            return dict(grants[0])
        specs = self.policies[policy_id].params
        names = dict.fromkeys(n for g in grants for n in g)
        out = {}
        for name in names:
            values = [g[name] for g in grants if name in g]
            spec = specs.get(name)
            out[name] = spec.combined(values) if spec is not None else values[0]
        return out

    def combinations(self) -> dict[str, dict[str, str]]:
        """Per policy, the declared ``combine:`` of each param that has one."""
        return {p.id: {n: s.combine for n, s in p.params.items() if s.combine}
                for p in self}

    def clashes(self, policy_id: str, a: Mapping[str, Any], b: Mapping[str, Any]
                ) -> list[str]:
        """Params two grants of ``policy_id`` set differently with no declared combination."""
        specs = self.policies[policy_id].params
        return [n for n in a if n in b and a[n] != b[n]
                and (n not in specs or specs[n].combine is None)]

    def conflicts(self) -> list[tuple[str, str]]:
        """Every pair of policies that must never reach one customer together (sorted)."""
        pairs = {tuple(sorted((p.id, other))) for p in self for other in p.conflicts_with}
        return sorted(pairs)  # type: ignore[arg-type]

    def template_path(self, policy_id: str) -> Path:
        return self.root / self.policies[policy_id].template


def load_catalogue(path: str | Path) -> Catalogue:
    """Load and check the policy catalogue; raise ``ConfigError`` at the first problem."""
    path = Path(path)
    name = str(path)
    doc = read_yaml(path)
    if not isinstance(doc, LocatedMap) or "policies" not in doc:
        raise ConfigError("the catalogue must be a mapping with 'version:' and 'policies:'",
                          file=name, line=getattr(doc, "line", 1))
    unknown = [k for k in doc if k not in ("version", "policies", "floors", "explanations")]
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}' (expected version, policies, floors, "
                          "explanations)",
                          file=name, line=doc.line_of(unknown[0]))
    raw = doc["policies"]
    if not isinstance(raw, LocatedMap) or not raw:
        raise ConfigError("'policies:' must map each policy id to its definition",
                          file=name, line=doc.line_of("policies"))
    policies = {pid: _policy(pid, body, raw.line_of(pid), name, path.parent)
                for pid, body in raw.items()}
    for policy in policies.values():
        for other in policy.conflicts_with:
            if other not in policies:
                raise ConfigError(f"policy '{policy.id}': conflicts_with names unknown policy "
                                  f"'{other}'", file=name, line=policy.line,
                                  suggestion=closest(other, policies))
    canonical = json.dumps(
        {"version": str(doc.get("version", "")),
         "policies": {pid: _canonical(p) for pid, p in policies.items()},
         # engine.floors reads them; a catalogue without floors keeps its hash
         **({"floors": plain(doc["floors"])} if "floors" in doc else {}),
         "templates": template_hashes(path.parent),
         **({"explanations": plain(doc["explanations"])} if "explanations" in doc else {})},
        sort_keys=True, separators=(",", ":"), default=str)
    return Catalogue(
        policies=MappingProxyType(policies),
        file=name,
        version=str(doc.get("version", "")),
        content_hash=hashlib.sha256(canonical.encode()).hexdigest(),
        root=path.parent,
        explanations=doc.get("explanations") or MappingProxyType({}),
    )


def template_hashes(root: Path) -> dict[str, str]:
    """sha256 of every Jinja2 template and translation catalogue (``.po``) under ``root``.

    Templates and their translations explain decisions, so an edited template
    or translation is a new catalogue: its content hash, and with it the table
    set's, changes. Keys are paths relative to ``root``.
    """
    files = sorted([*root.rglob("*.j2"), *root.rglob("*.po")])
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in files if p.is_file()}


def _canonical(policy: Policy) -> dict[str, Any]:
    return {
        "title": policy.title, "category": policy.category,
        "description": policy.description,
        "params": {k: vars(v) for k, v in policy.params.items()},
        "conflicts_with": list(policy.conflicts_with), "template": policy.template,
    }


def _policy(pid: Any, body: Any, line: int, file: str, root: Path) -> Policy:
    where = f"policy '{pid}': "
    if not isinstance(pid, str) or not pid.replace("_", "").isalnum() or not pid.islower():
        raise ConfigError(f"policy id {pid!r} must be lower_snake_case", file=file, line=line)
    if not isinstance(body, LocatedMap):
        raise ConfigError(where + "definition must be a mapping", file=file, line=line)
    for key in body:
        if key not in _POLICY_KEYS:
            raise ConfigError(where + f"unknown key '{key}'", file=file,
                              line=body.line_of(key), suggestion=closest(key, _POLICY_KEYS))
    for key in ("title", "category", "description", "template"):
        if not isinstance(body.get(key), str) or not body[key].strip():
            raise ConfigError(where + f"'{key}:' is required text", file=file, line=line)
    if body["category"] not in CATEGORIES:
        raise ConfigError(where + f"category '{body['category']}' must be one of "
                          + ", ".join(CATEGORIES), file=file, line=body.line_of("category"))
    if not (root / body["template"]).is_file():
        raise ConfigError(where + f"template '{body['template']}' does not exist next to the "
                          "catalogue", file=file, line=body.line_of("template"))
    raw_params = body.get("params") or {}
    if not isinstance(raw_params, dict):
        raise ConfigError(where + "'params:' must map names to definitions", file=file,
                          line=body.line_of("params"))
    params = {n: _param(pid, n, spec, raw_params.line_of(n), file)  # type: ignore[attr-defined]
              for n, spec in raw_params.items()}
    conflicts = body.get("conflicts_with") or []
    if not isinstance(conflicts, list) or not all(isinstance(c, str) for c in conflicts):
        raise ConfigError(where + "'conflicts_with:' must be a list of policy ids", file=file,
                          line=body.line_of("conflicts_with"))
    return Policy(id=pid, title=body["title"].strip(), category=body["category"],
                  description=" ".join(body["description"].split()),
                  params=MappingProxyType(params), conflicts_with=tuple(conflicts),
                  template=body["template"], line=line)


def _param(pid: str, name: Any, raw: Any, line: int, file: str) -> ParamSpec:
    where = f"policy '{pid}': param '{name}': "
    if not isinstance(raw, dict):
        raise ConfigError(where + "definition must be a mapping", file=file, line=line)
    for key in raw:
        if key not in _PARAM_KEYS:
            raise ConfigError(where + f"unknown key '{key}'", file=file, line=line,
                              suggestion=closest(key, _PARAM_KEYS))
    if raw.get("type") not in PARAM_TYPES:
        raise ConfigError(where + "'type:' must be one of " + ", ".join(PARAM_TYPES),
                          file=file, line=line)
    if "default" not in raw:
        raise ConfigError(where + "'default:' is required", file=file, line=line)
    for bound in ("min", "max"):
        value = raw.get(bound)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(where + f"'{bound}:' must be a number", file=file, line=line)
    choices = raw.get("choices")
    if choices is not None and (not isinstance(choices, list) or raw["type"] != "str"):
        raise ConfigError(where + "'choices:' is a list, for str params only", file=file,
                          line=line)
    combine = raw.get("combine")
    if combine is not None and combine not in COMBINATIONS:
        raise ConfigError(where + f"combine '{combine}' is not one of "
                          + ", ".join(COMBINATIONS), file=file, line=line,
                          suggestion=closest(combine, COMBINATIONS))
    if combine is not None and raw["type"] not in COMBINATIONS[combine]:
        raise ConfigError(where + f"combine '{combine}' does not apply to a {raw['type']} "
                          "param (use " + ", ".join(c for c, kinds in COMBINATIONS.items()
                                                    if raw["type"] in kinds) + ")",
                          file=file, line=line)
    spec = ParamSpec(type=raw["type"], default=raw["default"], min=raw.get("min"),
                     max=raw.get("max"), unit=str(raw.get("unit", "")),
                     description=" ".join(str(raw.get("description", "")).split()),
                     choices=tuple(choices) if choices else None, combine=combine)
    problem = spec.problem(spec.default)
    if problem:
        raise ConfigError(where + "default " + problem, file=file, line=line)
    return spec
