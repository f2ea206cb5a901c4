"""Whole customer bases: chunked batch decisions, their run files, Dask scale-out, impact.

See ``docs/batch.md``. ``engine.batch.decide`` decides a file chunk by chunk,
``engine.batch.runfiles`` keeps chunks and parts on disk so a run resumes,
``engine.batch.seals`` and ``engine.batch.digests`` seal the rows and digest
the files of a logged run (``--db``),
``engine.batch.scaleout`` runs the same chunks on Dask workers and
``engine.batch.impact`` compares two table sets over one population: its
sides come from ``engine.batch.rulesource`` (folders, project folders, git
revisions of the project's repository), ``engine.batch.impactrun`` checks the
candidate first, ``engine.batch.impactchanges`` says what changed in the
catalogue and templates, ``engine.batch.impactreport`` and
``engine.batch.impactcharts`` write the report.
"""

from engine.batch.decide import decide_file, decide_frame, decide_logged, explain_customers
from engine.batch.impact import Impact, compare
from engine.batch.impactrun import CandidateRefused, run_impact
from engine.batch.rulesource import RuleSide, load_baseline, load_side
from engine.batch.runfiles import BatchSummary, rejects_path
from engine.batch.scaleout import ClusterSpec, decide_file_dask, parse_cluster

__all__ = [
    "BatchSummary",
    "CandidateRefused",
    "ClusterSpec",
    "Impact",
    "RuleSide",
    "compare",
    "decide_file",
    "decide_file_dask",
    "decide_frame",
    "decide_logged",
    "explain_customers",
    "load_baseline",
    "load_side",
    "parse_cluster",
    "rejects_path",
    "run_impact",
]
