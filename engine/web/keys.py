"""How a request presents its API key: one reading for the service and the workbench.

A key arrives as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``, never
in the URL, so access logs never hold it. The workbench also takes the key as
the password of HTTP Basic authentication, so that a browser can log in; the
service does not (``basic=False``), so a Basic header there counts as no key.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

__all__ = ["presented_key"]


def presented_key(headers: Mapping[str, str], *, basic: bool = False) -> str | None:
    """The key a request presents: ``Authorization: Bearer <key>`` (or, with ``basic``,
    the password of ``Authorization: Basic``), else ``X-API-Key``; None when there is none."""
    header = headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if basic and scheme.lower() == "basic":
        password = _basic_password(value)
        if password:
            return password
    return headers.get("x-api-key") or None


def _basic_password(value: str) -> str | None:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None
