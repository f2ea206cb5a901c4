"""Collections over time: strategies, legal minimums, protections, penalties and cases.

Modules, each named for what it produces:

- ``strategy``: ``rules/collections.yaml`` read and checked; the law's minimums;
- ``protections``: ``rules/protections.yaml`` and the periods a protection holds;
- ``penalty``: the late-payment penalty of a bill and the rebate for prompt repayment;
- ``schedule``: the dated steps of one overdue bill and their status;
- ``cases``: a customer's cases, protections and deposit on an as-of date;
- ``tables``: both tables of a project, loaded and checked together;
- ``statement``: a customer's statement of account on a date, and ``show``, its
  stable JSON (``collections show --json``) read from a project's database
  (``read_statement`` reads the statement itself);
- ``text``: the statement worded in a language (``statement_text``);
- ``steps``: each step that falls due as a logged, replayable decision;
- ``worklist``: the day's work list for every customer.
"""

from engine.collections.statement import read_statement, show
from engine.collections.text import statement_text

__all__ = ["read_statement", "show", "statement_text"]
