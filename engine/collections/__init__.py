"""Collections over time: strategies, legal minimums, protections, penalties and cases.

Modules, each named for what it produces:

- ``strategy``: ``rules/collections.yaml`` read and checked; the law's minimums;
- ``protections``: ``rules/protections.yaml`` and the periods a protection holds;
- ``penalty``: the late-payment penalty of a bill and the rebate for prompt repayment;
- ``schedule``: the dated steps of one overdue bill and their status;
- ``cases``: a customer's cases, protections and deposit on an as-of date;
- ``tables``: both tables of a project, loaded and checked together.

Nothing is imported here, so the event processor can read the protection kinds
without loading the rest.
"""
