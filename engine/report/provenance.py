"""Where the decisions of a report come from: run, log chain, input, models, tables, release.

The decisions say which table set (version and content hash) and which model
decided each row. A batch run decided with the decision log (``--db``) left
one chained entry (``engine.batch.runlog``) whose output path is the
decisions file: it adds the SHA-256 of the input file, of the output and of
every model, and the run id every row's decision id starts with. The chain is
verified and its head hash shown, and the releases whose content hash is the
decisions' table set are named (``engine.governance.releases.history``,
read by the caller). Without the log the section says what it cannot show.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["provenance"]


def _entry(run: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": run["run_id"], "logged_on": run.get("as_of", ""),
            "input_path": run["input"]["path"], "input_sha256": run["input"]["sha256"],
            "input_bytes": run["input"]["bytes"], "output_sha256": run["output"]["sha256"],
            "rows_in": run["counts"]["rows_in"], "decided": run["counts"]["decided"],
            "rejected": run["counts"]["rejected"],
            "tables_hash": run["tables"]["content_hash"],
            "models": sorted(run.get("models", {}).items())}


def _ids_match(decisions: pd.DataFrame, run_id: str) -> bool | None:
    """Whether every decision id belongs to the run (None: the file has no decision ids)."""
    if "decision_id" not in decisions.columns:
        return None
    return bool(decisions["decision_id"].astype(str).str.startswith(run_id + "-").all())


def provenance(decisions: pd.DataFrame, *, source: str | Path | None = None, log: Any = None,
               releases: Iterable[Any] = ()) -> dict[str, Any]:
    """The provenance section's facts.

    ``source`` is the decisions file the report reads, ``log`` an open
    ``engine.audit.log.DecisionLog`` and ``releases`` its published releases.
    """
    tables = (decisions.groupby(["table_version", "table_hash"], sort=False).size()
              .rename("decisions").reset_index().to_dict("records"))
    out: dict[str, Any] = {"tables": tables, "log": None, "runs": [], "releases": [],
                           "source": str(source) if source is not None else ""}
    if log is None:
        return out
    report = log.verify()
    out["log"] = {"url": str(getattr(log, "url", "")), "ok": report.ok, "rows": report.rows,
                  "head": report.head_hash, "reason": report.reason}
    wanted = Path(source).resolve() if source is not None else None
    for run in log.runs():
        if wanted is None or Path(run["output"]["path"]) != wanted:
            continue
        match = _ids_match(decisions, run["run_id"])
        if match is not False:  # an earlier run that wrote the same file is not this one
            out["runs"].append({**_entry(run), "ids_match": match})
    hashes = {t["table_hash"] for t in tables}
    out["releases"] = [{"number": r.number, "version": r.version, "hash": r.content_hash,
                        "publisher": r.publisher, "approver": r.approver or "",
                        "created_at": r.created_at, "message": r.message}
                       for r in releases if r.content_hash in hashes]
    return out
