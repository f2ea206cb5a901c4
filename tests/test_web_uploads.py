"""Workbooks sized up by their unpacked size, rows and cells before any parser reads them."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import InputError
from engine.studio.workbook import export_workbook
from engine.web.errors import PayloadTooLarge
from engine.web.uploads import EXCEL_MAX_ROW, WorkbookLimits, check_workbook


def _xlsx(sheet: bytes, name: str = "xl/worksheets/sheet1.xml") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr(name, sheet)
    return out.getvalue()


def _rows(n: int, cells: int = 1, start: int = 1) -> bytes:
    row = "".join(f'<c r="A{{r}}"><v>{i}</v></c>' for i in range(cells))
    body = "".join(f'<row r="{r}">' + row.format(r=r) + "</row>" for r in range(start, start + n))
    return f"<worksheet><sheetData>{body}</sheetData></worksheet>".encode()


def test_the_projects_own_workbook_passes(engine):
    out = io.BytesIO()
    export_workbook(engine.tables, out)
    check_workbook(out.getvalue())


def test_a_small_upload_that_unpacks_huge_is_refused_from_the_directory():
    bomb = _xlsx(b"<worksheet>" + b" " * 60_000_000 + b"</worksheet>")
    assert len(bomb) < 200_000
    with pytest.raises(PayloadTooLarge) as refused:
        check_workbook(bomb)
    assert "60,000,031 bytes unpacked; at most 20,000,000" in refused.value.message
    assert refused.value.http_status == 413


def test_rows_and_cells_are_counted_and_refused_past_the_limit():
    limits = WorkbookLimits(max_rows=100, max_cells=250)
    check_workbook(_xlsx(_rows(100, cells=2)), limits)
    with pytest.raises(PayloadTooLarge, match="101 rows; at most 100"):
        check_workbook(_xlsx(_rows(101)), limits)
    with pytest.raises(PayloadTooLarge, match="cells; at most 250"):
        check_workbook(_xlsx(_rows(90, cells=3)), limits)


def test_a_row_past_excels_last_is_refused_with_its_number():
    with pytest.raises(InputError, match=r"row numbered 1,048,577, past Excel's last row"):
        check_workbook(_xlsx(_rows(2, start=EXCEL_MAX_ROW)))


def test_a_file_that_is_not_a_zip_is_refused_as_input():
    with pytest.raises(InputError, match="not an .xlsx file"):
        check_workbook(b"name,grade\nC1,A\n")


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 400), cells=st.integers(1, 3))
def test_counts_do_not_depend_on_where_the_stream_is_cut(n, cells):
    sheet = _rows(n, cells=cells)
    limits = WorkbookLimits(max_rows=n, max_cells=n * cells)
    check_workbook(_xlsx(sheet), limits)
    with pytest.raises(PayloadTooLarge):
        check_workbook(_xlsx(sheet), WorkbookLimits(max_rows=n - 1 if n > 1 else 0,
                                                    max_cells=n * cells))
