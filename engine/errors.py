"""One exception tree for the whole engine.

Every error the engine raises on purpose is an ``EngineError``. Each subclass
keeps the data an operator needs (file, line, rule id, field, value) so that
the CLI can turn it into an exit code and the service into an HTTP status
without parsing messages::

    EngineError                      exit 2, HTTP 500
    ├── ConfigError                  a config, registry or catalogue file is wrong
    │   ├── ConfigErrors             several problems of one file, all reported at once
    │   └── YamlFileError            a knowledge file the YAML reader refuses (size,
    │                                aliases, duplicate keys, tabs, encoding)
    ├── InputError                   exit 2, HTTP 422: data handed to the engine
    │   ├── RecordError              one customer record broke a field rule
    │   │   ├── RequiredFieldError     a field the customer's class must supply is absent
    │   │   └── RecordErrors           several fields of one record, each named
    │   ├── FrameError               a whole input frame or file is unusable
    │   └── LanguageError            a language or audience the engine does not speak
    ├── ModelError                   a model artifact is refused at load
    │   └── GovernanceError          a trained model failed the publication checks
    ├── TableError                   one decision-table problem at file:line
    │   └── TableSetError            several table problems; the set is refused whole
    ├── DecisionError                a table misbehaved while deciding (unique/any)
    └── ConflictError                exit 2, HTTP 409: a file changed under a pending edit

A misspelt name gets one did-you-mean, from ``closest``: errors keep it as
their ``suggestion`` field and ``did_you_mean`` writes it into the message.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ConfigError",
    "ConfigErrors",
    "ConflictError",
    "DecisionError",
    "EngineError",
    "FrameError",
    "GovernanceError",
    "InputError",
    "LanguageError",
    "ModelError",
    "RecordError",
    "RecordErrors",
    "RequiredFieldError",
    "TableError",
    "TableSetError",
    "YamlFileError",
    "closest",
    "did_you_mean",
]


def closest(word: Any, options: Iterable[Any], *, cutoff: float = 0.6) -> str | None:
    """The option ``word`` most likely misspells (or abbreviates), or None.

    Close spellings first (difflib's ratio of at least ``cutoff``), then an
    option that starts with ``word``, so that ``pay`` still points at ``payment``.
    """
    text = str(word)
    choices = [str(o) for o in options]
    found = difflib.get_close_matches(text, choices, n=1, cutoff=cutoff)
    if not found and text:
        found = [c for c in choices if c.startswith(text)][:1]
    return found[0] if found else None


def did_you_mean(suggestion: str | None) -> str:
    """The message tail for a suggestion: `` (did you mean 'x'?)``, or nothing."""
    return f" (did you mean '{suggestion}'?)" if suggestion else ""


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""

    exit_code: int = 2
    http_status: int = 500
    code: str = "engine_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> list[dict[str, Any]]:
        """Structured details for the service's error body."""
        return []


class ConfigError(EngineError):
    """A configuration, registry or catalogue file is missing or wrong.

    ``reason`` is the message without the place; ``suggestion`` the name the
    file probably meant, also written at the end of the message.
    """

    code = "config_error"

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 suggestion: str | None = None):
        where = f"{file}:{line}: " if file and line else f"{file}: " if file else ""
        super().__init__(where + message + did_you_mean(suggestion))
        self.file = file
        self.line = line
        self.reason = message
        self.suggestion = suggestion


class YamlFileError(ConfigError):
    """A knowledge file the YAML reader refuses before any of its content is used."""


class ConfigErrors(ConfigError):
    """Every problem found in one file, so the author fixes them in one pass."""

    def __init__(self, errors: list[ConfigError]):
        if not errors:
            raise ValueError("ConfigErrors needs at least one error")
        super().__init__(errors[0].message)
        self.file, self.line = errors[0].file, errors[0].line
        self.suggestion = errors[0].suggestion
        self.errors = list(errors)
        self.message = "\n".join(e.message for e in self.errors)
        self.args = (self.message,)


class InputError(EngineError):
    """Data handed to the engine is unusable."""

    http_status = 422
    code = "invalid_input"


class RecordError(InputError):
    """A customer record broke the rule of one field."""

    code = "invalid_record"

    def __init__(self, field: str, value: Any, rule: str, *, customer_id: str | None = None,
                 suggestion: str | None = None):
        who = f"customer {customer_id!r}: " if customer_id else ""
        super().__init__(f"{who}field '{field}' = {value!r}: {rule}")
        self.field = field
        self.value = value
        self.rule = rule
        self.customer_id = customer_id
        self.suggestion = suggestion

    def details(self) -> list[dict[str, Any]]:
        return [{"field": self.field, "value": _jsonable(self.value), "rule": self.rule}]


class RequiredFieldError(RecordError):
    """A field the customer's class must supply is absent (financial status of enterprises).

    ``customer_class`` is the class the record claims and ``required_for`` the
    classes that must supply the field, so callers need not read the message.
    """

    def __init__(self, field: str, *, customer_class: str, required_for: str,
                 customer_id: str | None = None):
        super().__init__(field, None, f"required for {customer_class} customers "
                         "(financial status); supply the value", customer_id=customer_id)
        self.customer_class = customer_class
        self.required_for = required_for


class RecordErrors(RecordError):
    """Every field of one record that broke its rule, so the sender fixes them at once.

    ``field``, ``value`` and ``rule`` are the first problem's (a batch reject
    row names one field); ``errors`` holds them all.
    """

    def __init__(self, errors: list[RecordError]):
        if not errors:
            raise ValueError("RecordErrors needs at least one error")
        first = errors[0]
        super().__init__(first.field, first.value, first.rule, customer_id=first.customer_id)
        self.errors = list(errors)
        who = f"customer {first.customer_id!r}: " if first.customer_id else ""
        self.message = (f"{who}{len(errors)} fields refused:\n" + "\n".join(
            f"  field '{e.field}' = {e.value!r}: {e.rule}" for e in errors))
        self.args = (self.message,)

    def details(self) -> list[dict[str, Any]]:
        return [d for e in self.errors for d in e.details()]


class FrameError(InputError):
    """A whole input frame or file cannot be used (missing columns, bad format)."""

    code = "invalid_frame"

    def __init__(self, message: str, *, columns: list[str] | None = None, file: str | None = None):
        super().__init__(f"{file}: {message}" if file else message)
        self.columns = columns or []
        self.file = file


class LanguageError(InputError):
    """A language (or audience) that is not supported; carries the supported choices."""

    code = "unsupported_language"

    def __init__(self, value: str, supported: tuple[str, ...], *, what: str = "language"):
        super().__init__(f"unknown {what} '{value}': use one of {', '.join(supported)}")
        self.value = value
        self.supported = supported
        self.what = what

    def details(self) -> list[dict[str, Any]]:
        return [{"path": self.what, "value": self.value, "supported": list(self.supported)}]


class ModelError(EngineError):
    """A model artifact is missing, corrupted or inconsistent."""

    code = "model_error"

    def __init__(self, message: str, *, file: str | None = None):
        super().__init__(f"{file}: {message}" if file else message)
        self.file = file


class GovernanceError(ModelError):
    """A trained model failed a publication check; ``table`` shows why."""

    code = "model_governance"

    def __init__(self, message: str, *, table: str = "", file: str | None = None):
        super().__init__(f"{message}\n{table}".rstrip(), file=file)
        self.table = table


@dataclass(frozen=True)
class Location:
    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class TableError(EngineError):
    """One problem in a decision table, located at file:line."""

    code = "table_error"

    def __init__(
        self,
        message: str,
        *,
        file: str,
        line: int | None = None,
        rule_id: str | None = None,
        suggestion: str | None = None,
    ):
        self.file = file
        self.line = line
        self.rule_id = rule_id
        self.suggestion = suggestion
        self.reason = message
        text = f"{Location(file, line)}: "
        if rule_id:
            text += f"rule '{rule_id}': "
        text += message + did_you_mean(suggestion)
        super().__init__(text)

    def details(self) -> list[dict[str, Any]]:
        return [
            {
                "file": self.file,
                "line": self.line,
                "rule_id": self.rule_id,
                "message": self.reason,
                "suggestion": self.suggestion,
            }
        ]


class TableSetError(TableError):
    """Several table problems at once: the whole set is refused."""

    code = "table_set_error"

    def __init__(self, errors: list[TableError]):
        if not errors:
            raise ValueError("TableSetError needs at least one error")
        first = errors[0]
        super().__init__(
            first.reason,
            file=first.file,
            line=first.line,
            rule_id=first.rule_id,
            suggestion=first.suggestion,
        )
        self.errors = list(errors)
        self.message = "\n".join(str(e) for e in self.errors)
        self.args = (self.message,)

    def details(self) -> list[dict[str, Any]]:
        return [d for e in self.errors for d in e.details()]


class DecisionError(EngineError):
    """A table broke its hit policy while deciding (for example two rules under 'unique')."""

    http_status = 500
    code = "decision_error"


class ConflictError(EngineError):
    """A file changed since an edit of it began (a workbench draft): nothing is written."""

    http_status = 409
    code = "conflict"

    def __init__(self, message: str, *, file: str | None = None):
        super().__init__(f"{file}: {message}" if file else message)
        self.file = file


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    return str(value)
