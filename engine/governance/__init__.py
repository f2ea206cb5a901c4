"""Governance: what is decided is checked, released and decided again.

``releases`` publishes table sets (checks, version bumps, four-eyes, the
rule-level diff); ``replay`` re-decides logged decisions with what was
archived; ``batchruns`` finds, replays and checks the decisions of a logged
batch run in its output files. They sit above batch and the records: they
read the log, and they decide again through the same pipeline.
"""

from engine.governance.batchruns import BatchReplay, BatchRow, RunCheck, find_row, verify_runs
from engine.governance.releases import (
    PublishRefused,
    Release,
    history,
    is_published,
    publish,
    publisher_name,
    require_release,
    resolve_set,
)
from engine.governance.replay import Replay, SampleReport, replay, replay_sample

__all__ = [
    "BatchReplay",
    "BatchRow",
    "PublishRefused",
    "Release",
    "Replay",
    "RunCheck",
    "SampleReport",
    "find_row",
    "history",
    "is_published",
    "publish",
    "publisher_name",
    "replay",
    "replay_sample",
    "require_release",
    "resolve_set",
    "verify_runs",
]
