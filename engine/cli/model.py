"""Commands for the scorer: train, evaluate, sensitivity."""

from __future__ import annotations
