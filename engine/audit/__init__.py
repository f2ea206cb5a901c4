"""The records: a hash-chained, append-only log of everything that decided.

See ``docs/audit.md``. ``engine.audit.log`` keeps the decision chain and
verifies it; ``engine.audit.store`` is the database under it (SQLite or
PostgreSQL); ``engine.audit.chain`` keeps the keyed chains (archive,
releases); ``engine.audit.archive`` keeps what decided, by content hash;
``engine.audit.export`` exports ranges for regulators. Reading runs back,
replaying and publishing live above, in ``engine.governance``.
"""

from engine.audit.archive import Archive, ArchiveError, ArchiveMissing
from engine.audit.log import (
    DecisionLog,
    DecisionNotFound,
    DuplicateDecision,
    LogEntry,
    VerifyReport,
    open_log,
)
from engine.audit.store import AuditStoreError

__all__ = [
    "Archive",
    "ArchiveError",
    "ArchiveMissing",
    "AuditStoreError",
    "DecisionLog",
    "DecisionNotFound",
    "DuplicateDecision",
    "LogEntry",
    "VerifyReport",
    "open_log",
]
