"""Every check ``gridcredit rules check`` runs, in a child process of its own.

A running service checks a new table set before it swaps it in: the static
findings (about a second of numpy and pandas on the project's tables, much of
it in calls that hold the GIL for tens of milliseconds) and every table's
examples on all three executors. Run in a thread of the service process, that
work holds up the event loop's decisions however it is scheduled; run here,
in a child at a lower CPU priority, it costs the service's process nothing.

The child loads the folder itself (``python -m engine.tables.childcheck
RULES_DIR CATALOGUE``) and prints one JSON object: the content hash of the
set it checked and its findings. A caller holds the findings to the set it
loaded only when the hashes are equal: a folder edited between the two
loads is never passed on the strength of another version's check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.errors import EngineError
from engine.policies import load_catalogue
from engine.tables.analysis import Finding, check_table_set
from engine.tables.tableset import load_table_set

__all__ = ["ChildCheck", "ChildCheckFailed", "check_in_child"]

NICENESS = 10
TIMEOUT_S = 300.0


class ChildCheckFailed(EngineError):
    """The child process did not report a check (it failed, timed out or printed no result).

    The service never answers with it: it checks the set in its own process instead.
    """

    code = "table_check_unfinished"


@dataclass(frozen=True)
class ChildCheck:
    """What the child checked (the set's content hash) and what it found."""

    content_hash: str
    findings: list[Finding]


def check_in_child(rules_dir: str | Path, catalogue_file: str | Path, *,
                   timeout: float = TIMEOUT_S) -> ChildCheck:
    """Load and check ``rules_dir`` in a child process; raise ``ChildCheckFailed`` if it
    reports nothing usable (a load error in the child is reported as such)."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH"))
                                         if p)}
    cmd = [sys.executable, "-m", "engine.tables.childcheck", str(rules_dir),
           str(catalogue_file)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ChildCheckFailed(f"the table check's child process did not finish: {exc}"
                               ) from None
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = None
    if done.returncode != 0 or not isinstance(report, dict):
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ChildCheckFailed(f"the table check's child process failed (exit "
                               f"{done.returncode}): {tail[0]}")
    if "error" in report:
        raise ChildCheckFailed(f"the table check's child process could not load the set: "
                               f"{report['error']}")
    return ChildCheck(report["content_hash"], [Finding(**f) for f in report["findings"]])


def main(argv: list[str]) -> int:
    """The child: load ``argv[0]`` with the catalogue ``argv[1]``, check, print JSON."""
    os.nice(NICENESS)
    rules_dir, catalogue_file = argv
    try:
        table_set = load_table_set(rules_dir, load_catalogue(catalogue_file))
    except EngineError as exc:
        print(json.dumps({"error": exc.message}))
        return 0
    findings = check_table_set(table_set, examples=True)
    print(json.dumps({"content_hash": table_set.content_hash,
                      "findings": [asdict(f) for f in findings]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
