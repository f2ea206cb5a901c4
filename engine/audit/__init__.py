"""The decision log: a hash-chained, append-only record of every decision.

See ``docs/audit.md``. ``engine.audit.log`` keeps the chain and verifies it;
``engine.audit.store`` is the database under it (SQLite or PostgreSQL).
"""
