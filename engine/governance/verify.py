"""``audit verify``: every chain of the log database, the archive and the batch runs' files.

One call checks all that is logged: the decision chain, the archive and
release chains, the payment events and their outcomes, each archived item
against its own hash, and the output files of every logged batch run.
Each chain goes through the one row check (``engine.audit.rowcheck``).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.audit.archive import Archive
from engine.audit.chain import verify_chain
from engine.audit.eventchain import verify_events
from engine.audit.log import DecisionLog, VerifyReport
from engine.audit.rowcheck import ChainReport
from engine.audit.store import releases
from engine.governance.batchruns import RunCheck, verify_runs

__all__ = ["CHAIN_LABELS", "LogCheck", "check_log"]

#: How each chain is named to a person.
CHAIN_LABELS = {"archive": "archive", "releases": "releases",
                "payment_events": "payment events", "event_outcomes": "event outcomes"}


@dataclass(frozen=True)
class LogCheck:
    """What ``check_log`` found; ``ok`` only when every part is intact."""

    url: str
    decisions: VerifyReport
    chains: tuple[ChainReport, ...]
    archive_problems: tuple[str, ...]
    runs: tuple[RunCheck, ...]

    @property
    def ok(self) -> bool:
        return (self.decisions.ok and all(c.ok for c in self.chains)
                and not self.archive_problems and all(r.ok for r in self.runs))


def check_log(log: DecisionLog) -> LogCheck:
    """Check every chain, the archive and (while the decision chain holds) the batch runs."""
    decisions = log.verify()
    archive, problems = Archive(log.engine).verify()
    chains = (archive, verify_chain(log.engine, releases), *verify_events(log.engine))
    runs = tuple(verify_runs(log)) if decisions.ok else ()
    return LogCheck(log.url, decisions, chains, tuple(problems), runs)
