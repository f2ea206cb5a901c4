"""The Decision: an immutable, JSON-serialisable record of what was decided and why.

A decision carries everything an auditor needs to replay or question it: the
inputs as validated, the score and its reason codes, the grade and the rule
that set it, the segments, every policy with the rule and file:line behind it,
the versions and hashes of the tables and the model. ``digest`` is the SHA-256
of the decision's canonical JSON without the digest itself, so an edited
decision file is detected (``Decision.from_json`` refuses it).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from engine.errors import InputError

__all__ = [
    "Decision",
    "DecisionTampered",
    "EventOutcome",
    "GrantOutcome",
    "GradeOutcome",
    "PolicyOutcome",
    "Reason",
    "RuleFired",
    "ScoreOutcome",
    "TableVersions",
    "canonical_json",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reason(_Frozen):
    """One indicator's contribution to the discriminant score (positive = adverse)."""

    indicator: str
    group: str
    value: Any
    contribution: float
    description: str


class ScoreOutcome(_Frozen):
    model_id: str
    model_sha256: str
    z: float
    pd: float
    reasons: tuple[Reason, ...]


class GradeOutcome(_Frozen):
    """The grade, the PD band it came from and the override rule when one applied."""

    grade: str
    band_grade: str | None
    rule_id: str
    override: str | None
    file: str
    line: int | None
    description: str
    source: str | None


class GrantOutcome(_Frozen):
    """One of several rules that granted a policy, with the params it gave."""

    rule_id: str
    table: str
    file: str
    line: int | None
    params: dict[str, Any]


class PolicyOutcome(_Frozen):
    """A policy with its combined params; ``grants`` lists each granting rule when several did."""

    policy_id: str
    params: dict[str, Any]
    rule_id: str
    table: str
    file: str
    line: int | None
    source: str | None
    description: str
    grants: tuple[GrantOutcome, ...] = ()


class RuleFired(_Frozen):
    table: str
    rule_id: str
    file: str
    line: int | None
    description: str
    source: str | None
    sets: dict[str, Any]


class EventOutcome(_Frozen):
    """A payment-event outcome that fed the decision: what, why, and the events behind it."""

    kind: str
    rule_id: str
    reason: str
    event_ids: tuple[str, ...]
    valid_from: str
    valid_until: str
    amount: float | None = None
    grade: str | None = None


class TableVersions(_Frozen):
    version: str
    versions: dict[str, str]
    content_hash: str


class Decision(_Frozen):
    decision_id: str
    customer_id: str
    customer_class: str
    as_of: str
    inputs: dict[str, Any]
    score: ScoreOutcome
    grade: GradeOutcome
    segments: dict[str, Any]
    policies: tuple[PolicyOutcome, ...]
    trace: tuple[RuleFired, ...]
    tables: TableVersions
    timings_ms: dict[str, float]
    engine_version: str
    digest: str = ""
    events: tuple[EventOutcome, ...] = ()

    @model_serializer(mode="wrap")
    def _without_empty_events(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``events`` and each policy's ``grants`` out when empty, so decisions
        without them serialise (and hash) exactly as they did before the fields existed."""
        data = handler(self)
        if not data.get("events"):
            data.pop("events", None)
        for policy in data.get("policies", ()):
            if isinstance(policy, dict) and not policy.get("grants"):
                policy.pop("grants", None)
        return data

    @property
    def policy_ids(self) -> list[str]:
        return [p.policy_id for p in self.policies]

    def content(self) -> dict[str, Any]:
        """What the decision says, without id, timings and digest.

        Equal inputs decided with equal versions give equal content.
        """
        data = self.model_dump(mode="json")
        for key in ("decision_id", "timings_ms", "digest"):
            data.pop(key)
        return data

    def sealed(self) -> Decision:
        """A copy whose digest covers every other field."""
        return self.model_copy(update={"digest": _digest(self)})

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str, *, source: str = "<decision>") -> Decision:
        """Parse a decision and check its digest; an edited decision is refused."""
        try:
            decision = cls.model_validate_json(text)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ())) or "<document>"
            raise InputError(
                f"{source}: not a gridcredit decision: {where}: {err['msg']}") from None
        expected = _digest(decision)
        if decision.digest != expected:
            raise DecisionTampered(
                f"{source}: digest mismatch: the decision was edited after it was made "
                f"(stored {decision.digest[:12] or '(none)'}..., content hashes to "
                f"{expected[:12]}...); decide again instead of editing the file"
            )
        return decision


class DecisionTampered(InputError):
    """A decision document whose digest does not match its content."""

    code = "decision_tampered"


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace: the form hashes are taken over."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(decision: Decision) -> str:
    data = decision.model_dump(mode="json")
    data.pop("digest")
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()
