"""The customer record: every field declared once, validated per record and per frame.

``FIELDS`` is the contract with service systems. The pydantic model used for
single records here and the vectorised validator of whole frames
(``engine.recordframe``) are both built from it, so the two can never
disagree about a type, unit or range.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from engine.errors import (
    RecordError,
    RecordErrors,
    RequiredFieldError,
    closest,
    did_you_mean,
)

__all__ = [
    "CLASSES",
    "DERIVED",
    "ABSENT_FOR_CLASS",
    "REQUIRED_FOR_CLASS",
    "SAMPLE_RECORD",
    "FIELDS",
    "GRADES",
    "GROUPS",
    "CustomerRecord",
    "FieldSpec",
    "field_names",
    "grade_scale",
    "iso_date",
    "scale_grades",
    "is_absent",
    "plain_value",
    "record_of",
    "validate_record",
    "vocabulary",
]

CLASSES = ("residential", "commercial", "industrial", "public")
NON_RESIDENTIAL = ("commercial", "industrial", "public")
GRADES = ("AAA", "AA", "A", "B", "C")
SOCIAL_RATINGS = ("A", "B", "C", "D", "unrated")
CUSTOMER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
# pydantic error type of a field the customer's class must supply; its ``ctx`` holds
# ``field``, ``customer_class`` and ``required_for``.
REQUIRED_FOR_CLASS = "required_for_class"
#: The pydantic error type of a financial field sent for a residential customer.
ABSENT_FOR_CLASS = "absent_for_class"
ABSENT_RULE = ("absent for residential customers: financial status is asked of commercial, "
               "industrial and public customers only; leave it out or null")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class FieldSpec:
    """One field of the customer record.

    ``kind`` is one of int, float, bool, category, date, id. ``required`` says
    who must supply it: ``"all"``, ``"non-residential"`` (financial status) or
    ``"none"`` (optional history).
    """

    name: str
    group: str
    kind: str
    unit: str
    description: str
    ge: float | None = None
    le: float | None = None
    choices: tuple[str, ...] | None = None
    required: str = "all"

    def rule(self) -> str:
        """The field's rule in words, as errors quote it."""
        if self.choices:
            return "must be one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "must be true or false"
        if self.kind == "date":
            return "must be a date (YYYY-MM-DD)"
        if self.kind == "id":
            return "must be 1-64 letters, digits, '_', '.', ':' or '-'"
        lo = "" if self.ge is None else f">= {self.ge:g}"
        hi = "" if self.le is None else f"<= {self.le:g}"
        rng = " and ".join(x for x in (lo, hi) if x)
        kind = "a whole number" if self.kind == "int" else "a number"
        return f"must be {kind} {rng} ({self.unit})".replace("  ", " ")


def _f(name, group, kind, unit, description, **kw) -> FieldSpec:
    return FieldSpec(name, group, kind, unit, description, **kw)


FIELDS: tuple[FieldSpec, ...] = (
    # identity
    _f("customer_id", "identity", "id", "-", "Account identifier of the customer."),
    _f("customer_class", "identity", "category", "-", "Tariff class of the customer.",
       choices=CLASSES),
    _f("as_of", "identity", "date", "date", "Date the record describes."),
    _f("months_connected", "identity", "int", "months", "Months since the supply connection.",
       ge=0, le=1200),
    # financial status (non-residential customers)
    _f("asset_liability_ratio", "financial", "float", "ratio",
       "Total liabilities over total assets.", ge=0, le=5, required="non-residential"),
    _f("current_ratio", "financial", "float", "ratio",
       "Current assets over current liabilities.", ge=0, le=50, required="non-residential"),
    _f("return_on_net_assets", "financial", "float", "ratio",
       "Net profit over net assets.", ge=-5, le=5, required="non-residential"),
    _f("loan_repayment_on_schedule_rate", "financial", "float", "share",
       "Share of bank loan instalments repaid on schedule.", ge=0, le=1,
       required="non-residential"),
    # consumption
    _f("monthly_kwh", "consumption", "float", "kWh/month",
       "Mean monthly consumption over the last 12 months.", ge=0, le=1e9),
    _f("contracted_capacity_kva", "consumption", "float", "kVA",
       "Contracted (declared) supply capacity.", ge=0, le=1e7),
    # payment behaviour
    _f("overdue_bills_12m", "payment", "int", "bills", "Bills paid late in the last 12 months.",
       ge=0, le=12),
    _f("overdue_amount", "payment", "float", "currency", "Charges overdue and still unpaid.",
       ge=0, le=1e10),
    _f("max_days_overdue_12m", "payment", "int", "days",
       "Longest delay of a bill in the last 12 months.", ge=0, le=366),
    _f("theft_incidents_36m", "payment", "int", "incidents",
       "Confirmed electricity-theft findings in the last 36 months.", ge=0, le=36),
    _f("has_repayment_agreement", "payment", "bool", "-",
       "An agreed repayment plan for arrears is in force."),
    # equipment operation and management
    _f("has_reactive_compensation", "equipment", "bool", "-",
       "Reactive power compensation is installed."),
    _f("calibration_on_schedule", "equipment", "bool", "-",
       "Metering and protection equipment is calibrated on schedule."),
    _f("grid_accidents_36m", "equipment", "int", "incidents",
       "Customer equipment faults that disturbed the grid in the last 36 months.", ge=0, le=100),
    # social credit
    _f("social_credit_rating", "social", "category", "-",
       "Public credit rating of the customer (or unrated).", choices=SOCIAL_RATINGS),
    # service
    _f("expected_service_quality", "service", "float", "score 1-5",
       "Service quality the customer expects (survey scale).", ge=1, le=5),
    _f("perceived_service_quality", "service", "float", "score 1-5",
       "Service quality the customer perceives (survey scale).", ge=1, le=5),
    _f("critical_load", "service", "bool", "-",
       "Supplies a critical load (hospital, continuous process, life support)."),
    # history (optional)
    _f("previous_grade", "history", "category", "-", "Grade given at the previous review.",
       choices=GRADES, required="none"),
    _f("habitual_defaulter", "history", "bool", "-",
       "Flagged as a habitual defaulter by the payment-event rules.", required="none"),
    _f("rebate_earned", "history", "bool", "-",
       "Earned an overdue-charge rebate by repaying within the window.", required="none"),
    _f("theft_override_until", "history", "date", "date",
       "Theft finding forces the lowest grade until this date.", required="none"),
    _f("regrade_until", "history", "date", "date",
       "A broken repayment agreement forces the lowest grade until this date.",
       required="none"),
)

GROUPS: tuple[str, ...] = tuple(dict.fromkeys(f.group for f in FIELDS))
_BY_NAME = {f.name: f for f in FIELDS}

# Fields the pipeline derives. ``group`` names the stage that provides them:
# "facts" are computed from the record before any table runs, "score" by the
# scorer, "tables" are outputs of the shipped decision tables.
DERIVED: tuple[FieldSpec, ...] = (
    _f("service_quality_gap", "facts", "float", "score points",
       "Expected minus perceived service quality; large = service-sensitive.", ge=-4, le=4),
    _f("theft_override_active", "facts", "bool", "-",
       "A theft finding still forces the lowest grade on the as-of date."),
    _f("regrade_active", "facts", "bool", "-",
       "A broken repayment agreement still forces the lowest grade on the as-of date."),
    _f("z", "score", "float", "-", "Fisher discriminant score (higher = more likely to default)."),
    _f("pd", "score", "float", "probability", "Calibrated 12-month default probability.",
       ge=0, le=1),
    _f("grade", "tables", "category", "-", "Credit grade, best first.", choices=GRADES),
    _f("consumption_class", "tables", "category", "-",
       "Consumption class within the customer class.", choices=("large", "average", "small")),
    _f("outage_sensitivity", "tables", "category", "-", "Sensitivity to supply interruptions.",
       choices=("high", "normal")),
    _f("service_sensitivity", "tables", "category", "-", "Sensitivity to service quality.",
       choices=("high", "normal", "low")),
    _f("value_tier", "tables", "category", "-", "Value of the customer to the utility.",
       choices=("high", "standard")),
)


def field_names(group: str | None = None) -> list[str]:
    """Names of all record fields, or of one group's fields."""
    return [f.name for f in FIELDS if group is None or f.group == group]


# The grades of the master scale being read, best first, while a table set is loaded;
# None outside a load, where the shipped scale GRADES holds.
_SCALE: ContextVar[tuple[str, ...] | None] = ContextVar("grade_scale", default=None)
_GRADED = ("grade", "previous_grade")


@contextmanager
def grade_scale(grades: Sequence[str] | None) -> Iterator[None]:
    """Within the block, ``grade`` and ``previous_grade`` take the values ``grades``.

    A table set declares its master scale in its grade table, with any number
    of bands and any names; loading the set reads every table against that
    scale, so a policy table naming a grade the scale lacks is refused at its
    line. ``None`` keeps the shipped scale.
    """
    token = _SCALE.set(tuple(grades) if grades else None)
    try:
        yield
    finally:
        _SCALE.reset(token)


def scale_grades() -> tuple[str, ...]:
    """The grades in effect, best first: those of ``grade_scale``, else the shipped ones."""
    return _SCALE.get() or GRADES


def vocabulary() -> dict[str, FieldSpec]:
    """Every field a decision table may read or set: record fields and derived fields."""
    fields = {f.name: f for f in (*FIELDS, *DERIVED)}
    grades = _SCALE.get()
    if grades:
        for name in _GRADED:
            fields[name] = replace(fields[name], choices=grades)
    return fields


# --------------------------------------------------------------------------- per record

def _documented(spec: FieldSpec) -> str:
    """The field's description as OpenAPI shows it: meaning, unit, range, who supplies it."""
    parts = [spec.description]
    if spec.unit not in ("-", ""):
        parts.append(f"Unit: {spec.unit}.")
    if spec.ge is not None or spec.le is not None:
        lo = "" if spec.ge is None else f"{spec.ge:g}"
        hi = "" if spec.le is None else f"{spec.le:g}"
        parts.append(f"Range: {lo} to {hi}." if lo and hi else
                     f"Range: at least {lo}." if lo else f"Range: at most {hi}.")
    if spec.required == "non-residential":
        parts.append("Required for commercial, industrial and public customers; absent for "
                     "residential ones.")
    elif spec.required == "none":
        parts.append("Optional (history): absent for customers without it.")
    return " ".join(parts)


def iso_date(value: Any) -> Any:
    """A date as JSON sends one, ``YYYY-MM-DD``; a date and time, an epoch number or any
    other spelling is refused rather than read as a date."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        return value
    raise PydanticCustomError("date_format", "only YYYY-MM-DD is read as a date: no time of day, "
                             "no epoch number")


def _whole(value: Any) -> Any:
    """A whole number sent as ``2.0`` is the number 2 (JSON has one number type); ``2.5``
    stays a float and is refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _annotation(spec: FieldSpec) -> Any:
    from typing import Literal

    if spec.kind == "id":
        typ: Any = Annotated[str, Field(pattern=CUSTOMER_ID.pattern, strict=True)]
    elif spec.kind == "category":
        typ = Literal[spec.choices]  # type: ignore[valid-type]
    elif spec.kind == "bool":
        typ = Annotated[bool, Field(strict=True)]
    elif spec.kind == "date":
        typ = Annotated[dt.date, BeforeValidator(iso_date)]
    elif spec.kind == "int":
        # The constraints sit on the integer itself, so the JSON Schema says them.
        typ = Annotated[Annotated[int, Field(strict=True, ge=spec.ge, le=spec.le)],
                        BeforeValidator(_whole)]
    else:
        typ = Annotated[float, Field(strict=True, ge=spec.ge, le=spec.le, allow_inf_nan=False)]
    if spec.required != "all":
        typ = typ | None
    extra = {"x-unit": spec.unit, "x-group": spec.group}
    typ = Annotated[typ, Field(description=_documented(spec), json_schema_extra=extra)]
    return (typ, None) if spec.required != "all" else (typ, ...)


# A complete record of a commercial customer: the OpenAPI example, docs/sample-record.json
# (a test holds the two equal) and the README's first decision.
SAMPLE_RECORD: dict[str, Any] = {
    "customer_id": "C0001", "customer_class": "commercial", "as_of": "2026-10-31",
    "months_connected": 84, "asset_liability_ratio": 0.45, "current_ratio": 1.6,
    "return_on_net_assets": 0.09, "loan_repayment_on_schedule_rate": 0.98,
    "monthly_kwh": 18500.0, "contracted_capacity_kva": 80.0, "overdue_bills_12m": 1,
    "overdue_amount": 0.0, "max_days_overdue_12m": 12, "theft_incidents_36m": 0,
    "has_repayment_agreement": False, "has_reactive_compensation": True,
    "calibration_on_schedule": True, "grid_accidents_36m": 0, "social_credit_rating": "B",
    "expected_service_quality": 4.0, "perceived_service_quality": 3.5, "critical_load": False,
}


class _RecordBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True,
                              json_schema_extra={"examples": [SAMPLE_RECORD]})

    @model_validator(mode="after")
    def _financial_for_enterprises(self) -> _RecordBase:
        if self.customer_class not in NON_RESIDENTIAL:  # type: ignore[attr-defined]
            for spec in FIELDS:
                if spec.required == "non-residential" and getattr(self, spec.name) is not None:
                    raise PydanticCustomError(ABSENT_FOR_CLASS, ABSENT_RULE, {
                        "field": spec.name, "value": getattr(self, spec.name),
                        "customer_class": self.customer_class})  # type: ignore[attr-defined]
        else:
            for spec in FIELDS:
                if spec.required == "non-residential" and getattr(self, spec.name) is None:
                    raise PydanticCustomError(
                        REQUIRED_FOR_CLASS,
                        "required for {required_for} customers (financial status); supply it",
                        {"field": spec.name, "required_for": spec.required,
                         "customer_class": self.customer_class},  # type: ignore[attr-defined]
                    )
        return self


CustomerRecord: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "CustomerRecord",
    __base__=_RecordBase,
    __doc__="A validated customer record (see engine.records.FIELDS for units and ranges).",
    **{spec.name: _annotation(spec) for spec in FIELDS},
)


def is_absent(value: Any) -> bool:
    """Whether a cell of a frame means "no value": None, NA, NaT or NaN."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and np.isnan(value)


def plain_value(value: Any) -> Any:
    """numpy and pandas scalars as plain Python values for JSON (timestamps as ISO dates)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return value


def record_of(row: dict[str, Any], fields: set[str] | None = None) -> dict[str, Any]:
    """A frame row as the record a service system would send: absent cells left out,
    plain Python values; with ``fields``, only those columns."""
    return {k: plain_value(v) for k, v in row.items()
            if (fields is None or k in fields) and not is_absent(v)}


def validate_record(data: dict[str, Any]) -> BaseModel:
    """Validate one record; raise ``RecordError`` naming the first bad field."""
    if not isinstance(data, dict):
        raise RecordError("<record>", type(data).__name__, "a record must be a JSON object")
    try:
        return CustomerRecord.model_validate(data)
    except ValidationError as exc:
        problems = [_record_error(err, data) for err in exc.errors()]
        raise (problems[0] if len(problems) == 1 else RecordErrors(problems)) from None


def _record_error(err: Any, data: dict[str, Any]) -> RecordError:
    cid = data.get("customer_id") if isinstance(data.get("customer_id"), str) else None
    loc = [str(p) for p in err.get("loc", ())]
    msg = str(err.get("msg", ""))
    if err["type"] == REQUIRED_FOR_CLASS:
        ctx = err["ctx"]
        return RequiredFieldError(ctx["field"], customer_class=ctx["customer_class"],
                                  required_for=ctx["required_for"], customer_id=cid)
    if err["type"] == ABSENT_FOR_CLASS:
        ctx = err["ctx"]
        return RecordError(ctx["field"], ctx["value"], ABSENT_RULE, customer_id=cid)
    name = loc[0] if loc else "<record>"
    value = data.get(name, err.get("input"))
    if err["type"] == "extra_forbidden":
        close = closest(name, _BY_NAME)
        return RecordError(name, value, "unknown field" + did_you_mean(close), customer_id=cid,
                           suggestion=close)
    if err["type"] == "missing":
        return RecordError(name, None, "required field is missing", customer_id=cid)
    spec = _BY_NAME.get(name)
    rule = spec.rule() if spec else msg
    return RecordError(name, value, rule, customer_id=cid)
