"""Commands for decision tables: rules check, rules schema."""

from __future__ import annotations
