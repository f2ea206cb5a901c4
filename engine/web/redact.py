"""What an answer or a start-up line may say about the database: never a path or a password.

A message built deep in the engine may name the database it could not read
(``decision 'X' is not in the log sqlite:////srv/out/decisions.sqlite``).
What reaches a client, or a terminal, shows the database as ``sqlite`` or
``postgresql://user@host/db``: no file path, no port and never a password.
"""

from __future__ import annotations

import re

__all__ = ["hidden", "shown_database"]

_URL = re.compile(r"\b([a-z][a-z0-9]*)(?:\+[a-z0-9]+)?://"
                  r"(?:([^\s:@/'\"]*)(?::[^\s@/'\"]*)?@)?([^\s/:'\"]*)(?::\d+)?(/[^\s'\"?]*[^\s'\"?:;,.])?"
                  r"(?:\?[^\s'\"]*)?", re.IGNORECASE)
_SQLITE_FILE = re.compile(r"(?<![\w:/])(?:/[^\s/'\"]+)+\.(?:sqlite3?|db)\b")


def shown_database(url: str | None) -> str:
    """A database URL or SQLite path as it may be shown: ``sqlite`` or ``scheme://user@host/db``."""
    text = str(url or "")
    found = _URL.fullmatch(text.strip())
    if found is None:
        return "sqlite"
    return _shown(found)


def _shown(found: re.Match[str]) -> str:
    scheme, user, host, path = found.group(1, 2, 3, 4)
    scheme = scheme.lower()
    if scheme == "sqlite":
        return "sqlite"
    name = (path or "").strip("/").rsplit("/", 1)[-1]
    who = f"{user}@" if user else ""
    return f"{scheme}://{who}{host}/{name}" if name else f"{scheme}://{who}{host}"


def hidden(text: str) -> str:
    """``text`` with every database URL shown as ``shown_database`` shows it, and every
    SQLite file path as ``sqlite``."""
    if "://" in text:
        text = _URL.sub(lambda m: _shown(m) if m.group(1).lower() in _DATABASES else m.group(0),
                        text)
    return _SQLITE_FILE.sub("sqlite", text) if "/" in text else text


_DATABASES = {"sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql"}
