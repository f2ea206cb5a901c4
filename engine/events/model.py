"""Payment events: what billing, metering and collection systems report about a customer.

Every event carries its own ``event_id`` (the same id twice counts once), the
``customer_id`` it concerns and its ``time``: the moment it happened, never
the moment it arrived. Times are normalised to UTC so that events from
systems in different zones order correctly. Models are strict (no string
"12" for a number) and refuse unknown fields, so a typo in a feed is a
rejected event rather than a silently ignored one.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from engine.errors import InputError, closest, did_you_mean
from engine.records import CUSTOMER_ID

__all__ = [
    "EVENT_TYPES",
    "REFUSALS",
    "AgreementBroken",
    "AgreementMade",
    "BillIssued",
    "BillOverdue",
    "DuplicateEvent",
    "Event",
    "EventRejected",
    "DepositPaid",
    "Outage",
    "ProtectionEnded",
    "ProtectionGranted",
    "Repayment",
    "TheftFinding",
    "parse_event",
    "to_micros",
]

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
Money = Annotated[float, Field(strict=True, ge=0, le=1e10, allow_inf_nan=False)]
PositiveMoney = Annotated[float, Field(strict=True, gt=0, le=1e10, allow_inf_nan=False)]
Ident = Annotated[str, Field(strict=True, pattern=_ID)]


# Why an event is refused: the ``reason_code`` of every ``EventRejected``.
REFUSALS = {
    "not_an_object": "the event is not a JSON object",
    "missing_type": "the event has no 'type'",
    "unknown_type": "the event's type is not one of EVENT_TYPES",
    "invalid_field": "a field is missing, unknown or breaks its rule",
    "duplicate_event": "the event id is already stored",
    "future_event": "the event time is too far after the clock",
    "late_event": "the event time is too far before the latest event seen",
    "duplicate_bill": "the bill id was already issued to the customer",
    "unknown_customer": "no bill was ever issued to the customer",
    "unknown_bill": "the event refers to a bill never issued",
    "overdue_before_bill": "an overdue event is timed before its own bill was issued",
    "overdue_before_due": "an overdue event is timed on or before its bill's due date",
}


class EventRejected(InputError):
    """An event refused before it was stored: it is stored nowhere and the stream goes on.

    ``reason_code`` (a key of ``REFUSALS``) says why in a form programs can
    branch on; ``reason`` says it in words.
    """

    code = "event_rejected"

    def __init__(self, reason: str, *, reason_code: str = "invalid_field",
                 event_id: str | None = None, field: str | None = None,
                 value: Any = None) -> None:
        if reason_code not in REFUSALS:
            raise ValueError(f"unknown event refusal code {reason_code!r}")
        who = f"event {event_id!r}: " if event_id else ""
        super().__init__(who + reason)
        self.reason = reason
        self.reason_code = reason_code
        self.event_id = event_id
        self.field = field
        self.value = value

    @classmethod
    def of(cls, reason_code: str, reason: str, *, event_id: str | None = None,
           field: str | None = None, value: Any = None) -> EventRejected:
        """The refusal for ``reason_code``: a ``DuplicateEvent`` for a stored id."""
        kind = DuplicateEvent if reason_code == "duplicate_event" else EventRejected
        return kind(reason, reason_code=reason_code, event_id=event_id, field=field,
                    value=value)

    def details(self) -> list[dict[str, Any]]:
        return [{"path": self.field or "", "field": self.field, "value": _plain(self.value),
                 "message": self.reason, "reason_code": self.reason_code}]


class DuplicateEvent(EventRejected):
    """An event whose id is already stored: the same event counts once."""

    http_status = 409
    code = "duplicate_event"


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Ident
    customer_id: Annotated[str, Field(strict=True, pattern=CUSTOMER_ID.pattern)]
    time: dt.datetime

    @field_validator("time", mode="wrap")
    @classmethod
    def _utc(cls, value: Any, handler: Any) -> dt.datetime:
        """An ISO 8601 text (never an epoch number) read as UTC when naive, converted to UTC
        when zoned; a time that falls outside the years 1 to 9999 in UTC is refused."""
        if not isinstance(value, str | dt.datetime):
            raise ValueError("give the time as ISO 8601 text (2026-10-01T08:00:00Z), "
                             "not a number or another type")
        parsed: dt.datetime = handler(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.UTC)
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:
            raise ValueError("the time falls outside the years 1 to 9999 once converted "
                             "to UTC") from None

    @property
    def micros(self) -> int:
        """Event time as integer microseconds since the epoch (how the store orders events)."""
        return to_micros(self.time)

    @property
    def bill_ref(self) -> str | None:
        return getattr(self, "bill_id", None)


class BillIssued(_Event):
    """A bill of ``amount`` was issued, due on ``due``."""

    type: Literal["bill_issued"]
    bill_id: Ident
    amount: PositiveMoney
    due: dt.date | None = None


class BillOverdue(_Event):
    """A bill passed its due date unpaid; ``penalty`` is the late-payment penalty charged."""

    type: Literal["bill_overdue"]
    bill_id: Ident
    penalty: Money = 0.0


class Repayment(_Event):
    """A payment of ``amount`` against the bill ``bill_id``."""

    type: Literal["repayment"]
    bill_id: Ident
    amount: PositiveMoney


class TheftFinding(_Event):
    """An inspection confirmed electricity theft."""

    type: Literal["theft_finding"]
    reference: Annotated[str, Field(strict=True, max_length=200)] | None = None


class AgreementMade(_Event):
    """A repayment agreement for arrears was signed."""

    type: Literal["agreement_made"]
    agreement_id: Ident
    amount: Money | None = None


class AgreementBroken(_Event):
    """The customer broke the repayment agreement ``agreement_id``."""

    type: Literal["agreement_broken"]
    agreement_id: Ident


class Outage(_Event):
    """A supply interruption the customer suffered (recorded, not graded)."""

    type: Literal["outage"]
    planned: Annotated[bool, Field(strict=True)]
    duration_minutes: Annotated[float, Field(strict=True, gt=0, le=525_600, allow_inf_nan=False)]


class ProtectionGranted(_Event):
    """A protection from collection began at the event time (``engine.collections``).

    ``kind`` is a kind of ``rules/protections.yaml`` (checked by the processor,
    which reads that table); ``until`` its last day, when the grant names one.
    """

    type: Literal["protection_granted"]
    kind: Ident
    until: dt.date | None = None
    reference: Annotated[str, Field(strict=True, max_length=200)] | None = None

    @field_validator("until")
    @classmethod
    def _not_before_start(cls, value: dt.date | None, info: Any) -> dt.date | None:
        start = info.data.get("time")
        if value is not None and start is not None and value < start.date():
            raise ValueError(f"until {value.isoformat()} is before the protection's start "
                             f"{start.date().isoformat()} (its event time): give a later date "
                             "or no until")
        return value


class ProtectionEnded(_Event):
    """The customer's open protection of ``kind`` (of ``reference``, if given) ended."""

    type: Literal["protection_ended"]
    kind: Ident
    reference: Annotated[str, Field(strict=True, max_length=200)] | None = None


class DepositPaid(_Event):
    """The customer paid a security deposit of ``amount``."""

    type: Literal["deposit_paid"]
    deposit_id: Ident
    amount: PositiveMoney


Event = (BillIssued | BillOverdue | Repayment | TheftFinding | AgreementMade | AgreementBroken
         | Outage | ProtectionGranted | ProtectionEnded | DepositPaid)
_CLASSES: dict[str, type[_Event]] = {
    "bill_issued": BillIssued,
    "bill_overdue": BillOverdue,
    "repayment": Repayment,
    "theft_finding": TheftFinding,
    "agreement_made": AgreementMade,
    "agreement_broken": AgreementBroken,
    "outage": Outage,
    "protection_granted": ProtectionGranted,
    "protection_ended": ProtectionEnded,
    "deposit_paid": DepositPaid,
}
EVENT_TYPES: tuple[str, ...] = tuple(_CLASSES)
_ADAPTERS = {name: TypeAdapter(cls) for name, cls in _CLASSES.items()}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_micros(value: dt.datetime) -> int:
    """A UTC datetime as integer microseconds since the epoch."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_event(data: Any) -> Event:
    """Validate one event (a dict as feeds send it); raise ``EventRejected`` naming the field."""
    if isinstance(data, _Event):
        return data  # type: ignore[return-value]
    if not isinstance(data, dict):
        raise EventRejected(f"an event must be an object, not {type(data).__name__}",
                            reason_code="not_an_object")
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    kind = data.get("type")
    if kind is None:
        raise EventRejected("field 'type' is missing: use one of " + ", ".join(EVENT_TYPES),
                            reason_code="missing_type", event_id=event_id, field="type")
    if not isinstance(kind, str) or kind not in _CLASSES:
        near = closest(kind, EVENT_TYPES) if isinstance(kind, str) else None
        raise EventRejected(f"unknown event type {_plain(kind)!r}: use one of "
                            + ", ".join(EVENT_TYPES) + did_you_mean(near),
                            reason_code="unknown_type",
                            event_id=event_id, field="type", value=kind)
    try:
        return _ADAPTERS[kind].validate_python(data)  # type: ignore[return-value]
    except ValidationError as exc:
        raise _rejection(exc, data, kind, event_id) from None


def _rejection(exc: ValidationError, data: dict[str, Any], kind: str,
               event_id: str | None) -> EventRejected:
    err = exc.errors()[0]
    loc = [str(p) for p in err.get("loc", ())]
    name = loc[0] if loc else "<event>"
    value = data.get(name)
    fields = list(_CLASSES[kind].model_fields)
    if err["type"] == "extra_forbidden":
        reason = f"unknown field '{name}' for a {kind} event" + did_you_mean(closest(name, fields))
    elif err["type"] == "missing":
        reason = f"field '{name}' is missing: a {kind} event needs " + ", ".join(
            f for f, info in _CLASSES[kind].model_fields.items() if info.is_required())
    elif name == "customer_id":
        reason = ("field 'customer_id' must be 1-64 letters, digits, '_', '.', ':' or '-', "
                  f"not {value!r}")
    elif err["type"] == "value_error":  # our own validator's sentence, without pydantic's tag
        reason = f"field '{name}' = {value!r}: {err['ctx']['error']}"
    else:
        reason = f"field '{name}' = {value!r}: {err['msg']}"
    return EventRejected(reason, event_id=event_id, field=name, value=value)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
