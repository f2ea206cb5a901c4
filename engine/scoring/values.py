"""The one text of a value: how category codes and labels compare, whatever the column type.

A column read from CSV turns decimal when one cell is blank, so a category
code or a label value must not depend on the column's dtype. Indicators,
the spec's filter and label, the binning and the artifact's bins all compare
values through ``canonical``.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["canonical"]

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_PADDED = re.compile(r"[+-]?0\d")


def _number_text(x: float) -> str:
    return str(int(x)) if x.is_integer() and abs(x) < 2 ** 53 else repr(x)


def canonical(value: Any) -> str | None:
    """The one text of a category value: 1, 1.0, "1" and " 1 " are all "1"; blanks are None.

    A column read from CSV turns decimal when one cell is blank, so category
    codes must not depend on the column's dtype. Zero-padded codes ("007")
    keep their text: the padding is part of the code.
    """
    if value is None or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else _number_text(float(value))
    text = str(value).strip()
    if not text:
        return None
    if _NUMBER.fullmatch(text) and not _PADDED.match(text):
        number = float(text)
        if math.isfinite(number):
            return _number_text(number)
    return text
