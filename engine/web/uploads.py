"""Uploaded workbooks sized up before any parser sees them.

An ``.xlsx`` file is a zip archive of XML parts, so a small upload can unpack
to gigabytes (a "zip bomb") or declare millions of rows. ``check_workbook``
reads only the archive's directory and then streams each worksheet part,
counting rows and cells with byte searches, never building a tree; it stops
at the first limit crossed. What passes is small enough for the workbook
reader, which the caller then runs off the event loop.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

from engine.errors import InputError
from engine.web.errors import PayloadTooLarge

__all__ = ["EXCEL_MAX_ROW", "WorkbookLimits", "check_workbook"]

EXCEL_MAX_ROW = 1_048_576
_CHUNK = 1 << 16
_LONGEST_TAG = 4096
_ROW_NUMBER = re.compile(rb'<(?:\w+:)?row\b[^>]*?\sr="(\d{1,12})"')
_ROW = re.compile(rb"<(?:\w+:)?row\b")
_CELL = re.compile(rb"<(?:\w+:)?c\b")


@dataclass(frozen=True)
class WorkbookLimits:
    """How big an uploaded workbook may be once unpacked."""

    max_unpacked_bytes: int = 20_000_000
    max_parts: int = 200
    max_rows: int = 20_000
    max_cells: int = 400_000


def check_workbook(data: bytes, limits: WorkbookLimits = WorkbookLimits()) -> None:
    """Refuse a workbook over ``limits`` (413) or not an xlsx archive (422); read nothing else."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise InputError("the workbook is not an .xlsx file (not a zip archive): export it "
                         "from the workbench or save it as Excel Workbook") from None
    with archive:
        parts = archive.infolist()
        if len(parts) > limits.max_parts:
            raise _too_big("parts", len(parts), limits.max_parts)
        unpacked = sum(p.file_size for p in parts)
        if unpacked > limits.max_unpacked_bytes:
            raise _too_big("bytes unpacked", unpacked, limits.max_unpacked_bytes)
        rows = cells = 0
        for part in parts:
            if part.filename.startswith("xl/worksheets/") and part.filename.endswith(".xml"):
                part_rows, part_cells = _count(archive, part, limits)
                rows, cells = rows + part_rows, cells + part_cells
                if rows > limits.max_rows:
                    raise _too_big("rows", rows, limits.max_rows)
                if cells > limits.max_cells:
                    raise _too_big("cells", cells, limits.max_cells)


def _count(archive: zipfile.ZipFile, part: zipfile.ZipInfo,
           limits: WorkbookLimits) -> tuple[int, int]:
    """Rows and cells in one worksheet part, streamed; a row numbered past Excel's last is
    refused. The unpacked bytes are bounded by the directory checked before, and again
    here, since a directory can lie about a part's size."""
    rows = cells = read = 0
    tail = b""
    try:
        with archive.open(part) as stream:
            while chunk := stream.read(_CHUNK):
                read += len(chunk)
                if read > limits.max_unpacked_bytes:
                    raise _too_big("bytes unpacked", read, limits.max_unpacked_bytes)
                text = tail + chunk
                cut = text.rfind(b"<")  # a tag cut by the chunk waits for the next one
                if cut < 0 or len(text) - cut > _LONGEST_TAG:
                    cut = len(text)
                head, tail = text[:cut], text[cut:]
                rows += len(_ROW.findall(head))
                cells += len(_CELL.findall(head))
                _check_row_numbers(head, part.filename)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"the workbook's part {part.filename} cannot be unpacked ({exc}): "
                         "save the workbook again") from None
    rows += len(_ROW.findall(tail))
    cells += len(_CELL.findall(tail))
    _check_row_numbers(tail, part.filename)
    return rows, cells


def _check_row_numbers(text: bytes, part: str) -> None:
    for number in _ROW_NUMBER.findall(text):
        if int(number) > EXCEL_MAX_ROW:
            raise InputError(f"the workbook's sheet {part.rsplit('/', 1)[-1]} has a row "
                             f"numbered {int(number):,}, past Excel's last row "
                             f"{EXCEL_MAX_ROW:,}: save the workbook again from Excel")


def _too_big(what: str, count: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the workbook holds {count:,} {what}; at most {limit:,}: upload the tables' own "
        "workbook (export it from the workbench), not a larger file",
        [{"path": "workbook", "value": count, "message": f"at most {limit} {what}"}])
