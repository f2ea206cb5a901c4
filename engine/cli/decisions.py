"""Commands that decide and explain: decide, explain, report, demo."""

from __future__ import annotations
