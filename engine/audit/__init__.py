"""The decision log: a hash-chained, append-only record of every decision.

See ``docs/audit.md``. ``engine.audit.log`` keeps the chain and verifies it;
``engine.audit.store`` is the database under it (SQLite or PostgreSQL);
``engine.audit.runs`` logs batch runs and reaches their decisions in their
outputs; ``engine.audit.archive``, ``replay``, ``releases`` and ``export`` keep
what decided, decide again, govern releases and export ranges.
"""
