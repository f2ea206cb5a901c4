"""The late-payment penalty (违约金) of one bill, and the rebate for prompt repayment.

The penalty accrues day by day on the part of the bill still unpaid, from the
day after the due date up to and including the day it is paid in full or the
as-of date, whichever comes first. On day ``d``::

    base(d) = amount - (repayments made before day d), in cents
    rate(d) = daily_rate_residential                          residential customers
            = daily_rate_current_year   if year(d) == Y        other customers
            = daily_rate_earlier_years  if year(d) >  Y

where ``Y`` is the year the arrears arose (the year of the day after the due
date): from the first of January after it, the same arrears count as arrears
of an earlier year. The penalty is ``sum(base(d) * rate(d))`` over those days,
at least ``minimum_charge`` once any day has accrued, rounded to cents at the
end. A repayment is applied to the bill itself before the penalty, so it lowers
the base from the next day on.

The rates, the minimum and the rebate terms are the params of the catalogue's
``late_payment_penalty`` and ``overdue_rebate`` policies (as granted to the
customer): this module states no rate of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.events.processor import rebate_amount

__all__ = ["Penalty", "Rebate", "penalty_of", "rebate_of"]

RESIDENTIAL = "residential"


@dataclass(frozen=True)
class Penalty:
    """A bill's penalty on a date: the amount, the days it accrued and the last such day."""

    amount: float
    days: int
    through: dt.date | None


@dataclass(frozen=True)
class Rebate:
    """The share of a penalty returned because the bill was repaid inside the window."""

    amount: float
    window_days: int
    share: float
    cap: float


def _rate(params: Mapping[str, float], customer_class: str, year: int, arrears_year: int
          ) -> float:
    if customer_class == RESIDENTIAL:
        return float(params["daily_rate_residential"])
    key = "daily_rate_current_year" if year == arrears_year else "daily_rate_earlier_years"
    return float(params[key])


def penalty_of(amount: float, due: dt.date, repayments: Sequence[tuple[dt.date, float]],
               as_of: dt.date, customer_class: str, params: Mapping[str, float]) -> Penalty:
    """The penalty of a bill of ``amount`` due on ``due``, accrued by the end of ``as_of``.

    ``repayments`` are (date, amount) pairs in any order; those after ``as_of``
    do not count. Pieces of constant base and rate are summed in closed form
    (base x rate x days), so a bill years overdue costs a few steps, not a
    loop over its days.
    """
    start = due + dt.timedelta(days=1)
    arrears_year = start.year
    paid = sorted((d, a) for d, a in repayments if d <= as_of)
    balance = float(amount)
    repaid = 0.0
    cuts = []  # the days on which the base changes: the day after each repayment
    for day, value in paid:
        cuts.append((day + dt.timedelta(days=1), value))
    total = 0.0
    days = 0
    day = start
    last = None
    cut = 0
    while day <= as_of and balance > 0.005:
        while cut < len(cuts) and cuts[cut][0] <= day:
            repaid += cuts[cut][1]
            balance = round(amount - repaid, 2)
            cut += 1
        if balance <= 0.005:
            break
        end = as_of
        if cut < len(cuts):
            end = min(end, cuts[cut][0] - dt.timedelta(days=1))
        end = min(end, dt.date(day.year, 12, 31))
        span = (end - day).days + 1
        total += balance * _rate(params, customer_class, day.year, arrears_year) * span
        days += span
        last = end
        day = end + dt.timedelta(days=1)
    if days and total < float(params["minimum_charge"]):
        total = float(params["minimum_charge"])
    return Penalty(round(total, 2), days, last)


def rebate_of(penalty: Penalty, due: dt.date, paid_in_full: dt.date | None,
              params: Mapping[str, float]) -> Rebate | None:
    """The rebate a bill earns: repaid in full within ``window_days`` of its due date."""
    window = int(params["window_days"])
    if paid_in_full is None or penalty.amount <= 0 or (paid_in_full - due).days > window:
        return None
    share, cap = float(params["rebate_share"]), float(params["cap_amount"])
    return Rebate(rebate_amount(penalty.amount, share, cap), window, share, cap)
