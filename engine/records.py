"""The customer record: every field declared once, validated per record and per frame.

``FIELDS`` is the contract with service systems. The pydantic model used for
single records and the vectorised validator used for whole frames are both
built from it, so the two can never disagree about a type, unit or range.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Annotated, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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
    FrameError,
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
    "validate_frame",
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


# --------------------------------------------------------------------------- per frame

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def validate_frame(frame: pd.DataFrame, fields: tuple[FieldSpec, ...] = FIELDS
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate a whole frame column-wise against ``fields`` (the customer record's by default;
    other records, such as service-quality surveys, declare their own ``FieldSpec`` tuple).

    Returns ``(accepted, rejects)``: accepted rows converted to the declared
    types (original index kept), and one reject row per refused input row
    with ``row``, ``customer_id``, ``field``, ``value`` and ``reason``. Every
    input row lands in exactly one of the two. A frame missing required
    columns raises ``FrameError`` naming them.
    """
    missing = [f.name for f in fields if f.required == "all" and f.name not in frame.columns]
    if missing:
        raise FrameError("missing required columns: " + ", ".join(missing), columns=missing)
    n = len(frame)
    bad = np.zeros(n, dtype=bool)
    reason = np.empty(n, dtype=object)
    bad_field = np.empty(n, dtype=object)
    bad_value = np.empty(n, dtype=object)
    out: dict[str, Any] = {}
    enterprise = (_is_in(frame["customer_class"].astype("string"), NON_RESIDENTIAL)
                  if "customer_class" in frame.columns else np.zeros(n, dtype=bool))

    def flag(mask: np.ndarray, spec: FieldSpec, why: str, raw: pd.Series | None) -> None:
        new = mask & ~bad
        if new.any():
            bad[new] = True
            reason[new] = why
            bad_field[new] = spec.name
            # raw values are read for the refused rows only: most rows pass
            bad_value[new] = None if raw is None else raw[new].to_numpy(dtype=object)

    for spec in fields:
        if spec.name not in frame.columns:
            out[spec.name] = _empty_column(spec, n)
            if spec.required == "non-residential":
                flag(enterprise, spec, f"required for non-residential customers: {spec.rule()}",
                     None)
            continue
        raw = frame[spec.name]
        null = raw.isna().to_numpy()
        col, invalid = _convert(spec, raw)
        flag(invalid & ~null, spec, spec.rule(), raw)
        if spec.required == "all":
            flag(null, spec, "required field is missing", raw)
        elif spec.required == "non-residential":
            flag(null & enterprise, spec,
                 "required for non-residential customers (financial status)", raw)
            flag(~null & ~enterprise, spec, ABSENT_RULE, raw)
        out[spec.name] = col

    # one block per column, as converted: consolidating them would copy every column
    accepted = pd.DataFrame(out, index=frame.index, copy=False)
    if bad.any():
        accepted = accepted[~bad]
    rows = np.flatnonzero(bad)
    ids = frame["customer_id"].iloc[rows].to_numpy(dtype=object)
    rejects = pd.DataFrame(
        {
            "row": rows.astype(np.int64),
            "customer_id": pd.array([_text(v) for v in ids], dtype="string"),
            "field": pd.array(list(bad_field[rows]), dtype="string"),
            "value": pd.array([_text(v) for v in bad_value[rows]], dtype="string"),
            "reason": pd.array(list(reason[rows]), dtype="string"),
        }
    )
    return accepted, rejects


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def _empty_column(spec: FieldSpec, n: int) -> pd.Series:
    if spec.kind in ("int", "float"):
        return pd.Series(np.full(n, np.nan))
    if spec.kind == "bool":
        return pd.Series(pd.array([pd.NA] * n, dtype="boolean"))
    if spec.kind == "date":
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    return pd.Series(pd.array([pd.NA] * n, dtype="string"))


def _convert(spec: FieldSpec, s: pd.Series) -> tuple[Any, np.ndarray]:
    """Convert one column to its declared type; return (values, invalid mask)."""
    null = s.isna().to_numpy()
    if spec.kind in ("int", "float"):
        if s.dtype == bool or pd.api.types.is_bool_dtype(s.dtype):
            num = pd.Series(np.full(len(s), np.nan), index=s.index)
            invalid = ~null
        else:
            num = pd.to_numeric(s, errors="coerce").astype("float64")
            invalid = num.isna().to_numpy() & ~null
        v = num.to_numpy()
        with np.errstate(invalid="ignore"):
            invalid |= ~np.isfinite(v) & ~np.isnan(v)
            if spec.ge is not None:
                invalid |= v < spec.ge
            if spec.le is not None:
                invalid |= v > spec.le
            if spec.kind == "int":
                invalid |= np.isfinite(v) & (v != np.round(v))
        return num.to_numpy(), invalid
    if spec.kind == "bool":
        if pd.api.types.is_bool_dtype(s.dtype):
            return s.astype("boolean").to_numpy(), np.zeros(len(s), dtype=bool)
        text = s.astype("string").str.strip().str.lower()
        is_true = text.isin(_TRUE).fillna(False).to_numpy(dtype=bool)
        is_false = text.isin(_FALSE).fillna(False).to_numpy(dtype=bool)
        vals = pd.array(np.where(is_true, True, False), dtype="boolean")
        vals[null] = pd.NA
        return vals, ~(is_true | is_false) & ~null
    if spec.kind == "date":
        iso = _iso_dates(s, null)
        if iso is not None:
            return iso, np.zeros(len(s), dtype=bool)
        d = pd.to_datetime(s, errors="coerce", format="mixed")
        return d.to_numpy(), d.isna().to_numpy() & ~null
    text = s.astype("string")
    if spec.kind == "category":
        ok = _is_in(text, spec.choices)
    else:
        ok = _matches(text, CUSTOMER_ID.pattern)
    return text.array, ~ok & ~null


def _arrow_text(text: pd.Series) -> pa.ChunkedArray | pa.Array | None:
    """A text column's Arrow array when it has one (no copy), else None."""
    if isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow":
        return pa.array(text.array)
    return None


def _is_in(text: pd.Series, choices: tuple[str, ...]) -> np.ndarray:
    """Whether each cell of a text column is one of ``choices`` (False where missing)."""
    arrow = _arrow_text(text)
    if arrow is None:
        return text.isin(choices).fillna(False).to_numpy(dtype=bool)
    found = pc.is_in(arrow, value_set=pa.array(choices, type=arrow.type))
    return np.asarray(pc.fill_null(found, False), dtype=bool)


def _matches(text: pd.Series, pattern: str) -> np.ndarray:
    """Whether each cell of a text column matches ``pattern`` whole (False where missing).

    The pattern is anchored at both ends, so a substring match is a full one.
    """
    arrow = _arrow_text(text)
    if arrow is None:
        return text.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
    found = pc.match_substring_regex(arrow, pattern)
    return np.asarray(pc.fill_null(found, False), dtype=bool)


@functools.cache
def _date_unit() -> np.dtype:
    """The datetime type ``pd.to_datetime`` gives a column of ISO dates."""
    return pd.to_datetime(pd.Series(["2000-01-01"]), format="mixed").to_numpy().dtype


def _iso_dates(s: pd.Series, null: np.ndarray) -> np.ndarray | None:
    """A text column of strict ``YYYY-MM-DD`` dates (or missing) parsed by Arrow, else None.

    Arrow's cast refuses the whole column at the first cell that is not a
    real calendar date in exactly that form; such a column, and one with no
    date at all, is left to ``pd.to_datetime``, which reads other forms too.
    For strict ISO dates both give the same day at midnight.
    """
    arrow = _arrow_text(s)
    if arrow is None or null.all():
        return None
    try:
        days = pc.cast(arrow, pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    stamps = pc.cast(days, pa.timestamp(np.datetime_data(_date_unit())[0]))
    return np.asarray(stamps.to_numpy(zero_copy_only=False), dtype=_date_unit())
