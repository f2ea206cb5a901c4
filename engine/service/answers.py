"""The models of the service's JSON answers, as the OpenAPI document describes them.

Decisions are answered as they were sealed (``engine.decision.Decision``);
everything else a route answers is one of these models, so a generated
client gets a typed object for every 2xx and for the one error shape.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.web.codes import ERROR_CODES

__all__ = ["BatchItem", "BatchRequest", "BatchResponse", "ErrorBody", "ErrorDetail", "Health",
           "ReloadAnswer", "TablesAnswer", "Validation"]

ErrorCode = Literal[tuple(ERROR_CODES)]  # type: ignore[valid-type]


class ErrorDetail(BaseModel):
    """One problem of a refused request: where, what was sent, and the rule it broke."""

    model_config = ConfigDict(extra="allow")
    path: str = Field(description="Field path in the request (dotted, list positions as "
                                  "numbers: records.3.monthly_kwh), file:line for table "
                                  "problems, or empty for the request as a whole.",
                      examples=["records.3.monthly_kwh"])
    value: Any = Field(description="The value sent, shortened to 200 characters; null for a "
                                   "missing field.", examples=[-1])
    message: str = Field(description="The rule the value broke, in words.",
                         examples=["must be a number >= 0 and <= 1e+09 (kWh/month)"])
    field: str | None = Field(None, description="The record or event field, when one is named.")
    file: str | None = Field(None, description="The table or rule file, for table problems.")
    line: int | None = Field(None, description="The line in ``file``.")
    rule: str | None = Field(None, description="The field's rule, for record problems.")
    rule_id: str | None = Field(None, description="The table rule, for table problems.")
    suggestion: str | None = Field(None, description="The name probably meant (did you mean).")
    reason_code: str | None = Field(None, description="Why an event was refused, as a code "
                                                      "(unknown_customer, unknown_bill, ...).")
    supported: list[str] | None = Field(None, description="The values accepted instead.")


class ErrorBody(BaseModel):
    """The one shape of every 4xx and 5xx answer."""

    status: int = Field(description="The HTTP status, repeated.", examples=[422])
    code: ErrorCode = Field(description="What went wrong, as a stable code: "
                            + "; ".join(f"`{c}`: {t}" for c, t in ERROR_CODES.items()),
                            examples=["invalid_request"])
    message: str = Field(description="What went wrong and what to do, in words (at most "
                                     "1,000 characters).")
    details: list[ErrorDetail] = Field(description="Each problem, possibly none.")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[Any] = Field(
        description="Customer records (each as for POST /v1/decisions); at most the "
                    "service's batch_limit. An item that is not a valid record fails on "
                    "its own; the others are decided.",
        json_schema_extra={"items": {"anyOf": [
            {"$ref": "#/components/schemas/CustomerRecord"},
            {"description": "Anything else is answered as a refused item, not a refused "
                            "batch."}]}})


class BatchItem(BaseModel):
    index: int = Field(description="The item's position in ``records``.")
    ok: bool = Field(description="Whether the item was decided (and logged).")
    decision: dict[str, Any] | None = Field(
        None, description="The decision, as logged, when ``ok``.",
        json_schema_extra={"anyOf": [{"$ref": "#/components/schemas/Decision"},
                                     {"type": "null"}]})
    error: ErrorBody | None = Field(None, description="Why the item was refused, unless ``ok``.")


class BatchResponse(BaseModel):
    decided: int = Field(description="Items decided and logged.")
    refused: int = Field(description="Items refused; decided + refused is the batch's size.")
    items: list[BatchItem] = Field(description="One answer per record, in order.")


class TableFinding(BaseModel):
    """One problem a table check found, where it is and what it says."""

    path: str = Field(description="``file:line`` of the problem (``file`` alone without a line).")
    file: str = Field(description="The posted file, by its name.")
    line: int | None = Field(description="The line in that file, when the check knows it.")
    subject: str = Field(description="The rule or table the problem is about ('' for a file).")
    kind: str = Field(description="The check that found it (``load`` for a file that does not "
                                  "load).")
    message: str = Field(description="What is wrong and what to do.")


class Validation(BaseModel):
    ok: bool = Field(description="Whether the posted set passes every check.")
    version: str | None = Field(description="The set's version, when it loads.")
    content_hash: str | None = Field(description="The set's content hash, when it loads.")
    tables: dict[str, str] = Field(description="Version of each table, by name.")
    findings: list[TableFinding] = Field(description="Each problem found, with file:line.")


class _Versions(BaseModel):
    engine_version: str = Field(description="The engine's version.")
    tables_version: str = Field(description="Version of the active table set.")
    tables_content_hash: str = Field(description="SHA-256 over the active tables' contents.")
    tables: dict[str, str] = Field(description="Version of each active table, by name.")
    models: dict[str, str] = Field(description="SHA-256 of each loaded model, by model id.")


class TablesAnswer(_Versions):
    """The active table set."""

    files: dict[str, str] = Field(description="Each table's file, relative to the home.")


class ReloadAnswer(_Versions):
    """The table set active after a reload."""

    reloaded: Literal[True] = Field(description="Always true: a refused set is a 422.")


class Health(BaseModel):
    """Liveness of the worker that answered."""

    status: Literal["ok"]
    engine_version: str
    pid: int = Field(description="The answering worker's process id.")
    tables_version: str
    tables_content_hash: str
    keys_problem: str | None = Field(description="Why the keys file was last refused (the "
                                                 "keys read before stay in force), else null.")
