"""The Decision: an immutable, JSON-serialisable record of what was decided and why.

A decision carries everything an auditor needs to replay or question it: the
inputs as validated, the score and its reason codes, the grade and the rule
that set it, the segments, every policy with the rule and file:line behind it,
the versions and hashes of the tables and the model. ``digest`` is the SHA-256
of the decision's canonical JSON without the digest itself, so an edited
decision file is detected (``Decision.from_json`` refuses it).

Canonical JSON is ``json.dumps(data, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)``. ``canonical_json`` writes it with orjson when that
gives the very same bytes, which is every document but those holding a float
orjson spells differently (below 1e-4: ``1e-05`` against ``0.00001``, and
``1e-07`` against ``1e-7``), keys that are not text, or integers beyond 64
bits; those, found by looking at orjson's output, go through ``json.dumps``.
Hashed documents hold finite numbers only: NaN and infinity have no JSON
spelling (``json.dumps`` writes ``NaN``, orjson ``null``), and a decision's
floats (scores, contributions, params) are finite by construction.
A sealed decision keeps the JSON form it was hashed over (``as_json``), so
the log and the service serialise it without dumping the model again. One
sealed from its parts (``seal_parts``, the compiled path) also keeps each
member's canonical JSON: the digest is taken over their join
(``canonical_object``), and ``canonical_payload`` gives the stored form
without serialising the document again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from engine.errors import InputError

__all__ = [
    "ChallengerOutcome",
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
    "canonical_bytes",
    "canonical_json",
    "canonical_object",
    "sha256_hex",
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


class ChallengerOutcome(_Frozen):
    """The challenger model's score of the same customer, recorded in shadow.

    ``used`` is always False: the challenger never decides; its grade is the
    master-scale band of its PD, for comparing models on later outcomes.
    """

    model_id: str
    model_sha256: str
    z: float
    pd: float
    grade: str
    used: bool = False


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
    challenger: ChallengerOutcome | None = None
    _json: dict[str, Any] | None = PrivateAttr(default=None)
    _members: dict[str, bytes] | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        """Equal fields are equal decisions, whether or not the JSON form is kept."""
        if not isinstance(other, Decision):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def model_copy(self, *, update: dict[str, Any] | None = None,
                   deep: bool = False) -> Decision:
        """A copy; it drops the kept JSON form, which the update may make stale."""
        out = super().model_copy(update=update, deep=deep)
        out._json = None
        out._members = None
        return out

    @model_serializer(mode="wrap")
    def _without_empty_events(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave ``events``, ``challenger`` and each policy's ``grants`` out when empty, so
        decisions without them serialise (and hash) exactly as before the fields existed."""
        data = handler(self)
        if not data.get("events"):
            data.pop("events", None)
        if data.get("challenger") is None:
            data.pop("challenger", None)
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
        """A copy whose digest covers every other field; it keeps its JSON form."""
        data = self.model_dump(mode="json")
        data.pop("digest")
        digest = sha256_hex(canonical_bytes(data))
        out = self.model_copy(update={"digest": digest})
        data["digest"] = digest
        out._json = data
        return out

    @classmethod
    def seal_data(cls, data: dict[str, Any], events: Any = (),
                  models: dict[str, Any] | None = None) -> Decision:
        """A sealed decision from its JSON data (``model_dump(mode="json")``'s shape).

        The digest is ``sealed``'s: SHA-256 of the canonical JSON of everything
        but the digest, ``events`` included only when there are some. The data,
        digest added, becomes the decision's JSON form. ``models`` may give
        some fields as ready models (equal to their data), taken unvalidated.
        """
        if events:
            data["events"] = [e.model_dump(mode="json") for e in events]
        digest = sha256_hex(canonical_bytes(data))
        tail = data.pop("events", None)
        data["digest"] = digest
        if tail is not None:
            data["events"] = tail
        decision = cls.model_validate({**data, **models} if models else data)
        decision._json = data
        return decision

    @classmethod
    def seal_parts(cls, data: dict[str, Any], members: Mapping[str, bytes],
                   models: Mapping[str, Any], events: Any = ()) -> Decision:
        """``seal_data`` from data whose every member is already in canonical JSON.

        ``members`` holds, per key of ``data``, the canonical JSON of its value
        (``canonical_bytes``), so the digest is taken over their join
        (``canonical_object``) without serialising the document again;
        ``models`` gives the grade, policies, trace and tables as ready models;
        the score (with its reasons) is made from its data, and the decision is
        put together from those values without validating them again (see
        ``_assembled``): they come from validated records and loaded models.
        """
        if events:
            tail = [e.model_dump(mode="json") for e in events]
            members = {**members, "events": canonical_bytes(tail)}
        data["digest"] = sha256_hex(canonical_object(members))
        if events:
            data["events"] = tail
        score = data["score"]
        fields = {
            **data, **models,
            "score": _assembled(ScoreOutcome, {
                **score, "reasons": tuple(_assembled(Reason, dict(r)) for r in score["reasons"])}),
            "events": tuple(EventOutcome.model_validate(e) for e in tail) if events else (),
            "challenger": (ChallengerOutcome.model_validate(data["challenger"])
                           if "challenger" in data else None),
        }
        return _assembled(cls, {name: fields[name] for name in cls.model_fields},
                          set(data), {"_json": data, "_members": members})

    def canonical_payload(self) -> bytes:
        """``canonical_bytes(self.as_json())``: the sealed document, digest included.

        A decision sealed from its parts (``seal_parts``) joins the canonical
        JSON of its members kept from sealing, so storing it serialises nothing
        again; any other decision serialises its JSON form.
        """
        members = self._members
        if members is None:
            return canonical_bytes(self.as_json())
        return canonical_object({**members, "digest": orjson.dumps(self.digest)})

    def as_json(self) -> dict[str, Any]:
        """``model_dump(mode="json")``, kept from sealing; treat it as read-only."""
        if self._json is None:
            return self.model_dump(mode="json")
        return self._json

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_json(), indent=indent, ensure_ascii=False)

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


def _assembled(cls: type[BaseModel], fields: dict[str, Any], fields_set: set[str] | None = None,
               private: dict[str, Any] | None = None) -> Any:
    """A model of values already in their validated form, without validating them again.

    What ``model_construct`` makes, without its Python loop over every field:
    ``fields`` holds each field (in field order) as validation would leave it,
    ``fields_set`` the fields given (all, by default) and ``private`` the
    private attributes. ``seal_parts`` builds decisions so: every value comes
    from the data it hashed, in the model's types, and
    ``tests/test_compiled_path.py`` holds the result equal to ``model_validate``'s.
    """
    model = object.__new__(cls)
    object.__setattr__(model, "__dict__", fields)
    object.__setattr__(model, "__pydantic_fields_set__",
                       set(fields) if fields_set is None else fields_set)
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", private)
    return model


class DecisionTampered(InputError):
    """A decision document whose digest does not match its content."""

    code = "decision_tampered"


# orjson and json.dumps spell floats alike except from 1e-9 to 1e-4 (measured over
# every exponent): orjson writes "1e-7" where json writes "1e-07", and "0.00001"
# where json writes "1e-05". Output holding either spelling, even inside a text,
# goes through json.dumps instead.
# (A digit, then "e-" and one digit: orjson's short exponent. The regex starts with
# the literal "e-", which the regex engine seeks fast; the digit before is checked
# per match.)
_SHORT_EXPONENT = re.compile(rb"e-[0-9](?![0-9])")


def _orjson_agrees(text: bytes) -> bool:
    """Whether orjson's output holds no float it spells unlike ``json.dumps``."""
    if b"0.0000" in text:
        return False
    if b"e-" not in text:
        return True
    return not any(m.start() and text[m.start() - 1:m.start()].isdigit()
                   for m in _SHORT_EXPONENT.finditer(text))


def canonical_bytes(data: Any) -> bytes:
    """``canonical_json(data)`` as UTF-8, the bytes hashes are taken over."""
    try:
        fast = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        fast = None
    if fast is not None and _orjson_agrees(fast):
        return fast
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_HELD_PIECE = 2047  # hashlib lets other threads run while it hashes 2048 bytes or more


def sha256_hex(data: bytes) -> str:
    """``hashlib.sha256(data).hexdigest()``, keeping the interpreter lock throughout.

    Over 2 KiB, hashlib releases the lock while it hashes. In a service worker
    whose log writer shares one core with the event loop, every such release
    lets the other thread in: a context switch, and up to a switch interval
    before the lock comes back, for a hash of a few microseconds. Fed in
    pieces under that size, hashlib keeps the lock and the digest is the same.
    """
    if len(data) < _HELD_PIECE:
        return hashlib.sha256(data).hexdigest()
    view = memoryview(data)
    h = hashlib.sha256(view[:_HELD_PIECE])
    for start in range(_HELD_PIECE, len(data), _HELD_PIECE):
        h.update(view[start:start + _HELD_PIECE])
    return h.hexdigest()


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace: the form hashes are taken over (see the module docstring)."""
    return canonical_bytes(data).decode()


def canonical_object(members: Mapping[str, bytes]) -> bytes:
    """The canonical JSON of an object from each member's own canonical JSON.

    Canonical JSON nests: the form of an object is its members' forms in key
    order, so parts of a document serialised once (and checked once) join
    into the very bytes ``canonical_bytes`` gives for the whole.
    """
    named = _NAMED
    return b"{" + b",".join([(named.get(k) or _name(k)) + members[k]
                             for k in sorted(members)]) + b"}"


_NAMED: dict[str, bytes] = {}


def _name(key: str) -> bytes:
    """A member's key in canonical JSON, with its colon (kept: keys are field names)."""
    named = orjson.dumps(key) + b":"
    if len(_NAMED) < 256:
        _NAMED[key] = named
    return named


def _digest(decision: Decision) -> str:
    data = decision.model_dump(mode="json")
    data.pop("digest")
    return sha256_hex(canonical_bytes(data))
