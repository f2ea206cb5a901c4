"""Reading and writing customer frames as CSV or Parquet, chosen by file extension."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.errors import FrameError

__all__ = ["FORMATS", "read_frame", "write_frame"]

FORMATS = (".csv", ".parquet")


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise FrameError(
            f"unsupported file type '{suffix or '(none)'}': use a .csv or .parquet file",
            file=str(path),
        )
    return suffix


def read_frame(path: str | Path, *, text: bool = False) -> pd.DataFrame:
    """Read a CSV or Parquet file; refuse other formats and unreadable files by name.

    ``text=True`` reads every CSV column as text, so that one malformed cell
    stays that cell's problem instead of turning its whole column into text.
    """
    path = Path(path)
    suffix = _format(path)
    if not path.exists():
        raise FrameError("file not found", file=str(path))
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if path.stat().st_size == 0:
            return pd.DataFrame()
        return pd.read_csv(path, dtype="string" if text else {"customer_id": "string"},
                           keep_default_na=True)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        kind = "Parquet" if suffix == ".parquet" else "CSV"
        raise FrameError(f"not a readable {kind} file ({exc})", file=str(path)) from None


def write_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as CSV or Parquet by the path's extension; create parent folders."""
    path = Path(path)
    suffix = _format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path
