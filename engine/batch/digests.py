"""Digests of batch files: whole files by their bytes, runs of rows by their values.

A logged run records the SHA-256 of its output file, of its rejects file and
of its input, and one digest per chunk ("part") over the part's rows. The
part digest is taken over values, not bytes, so it is the same for the Arrow
part a worker wrote, for the rows read back from the assembled Parquet file,
and for the rows read back from a CSV output::

    part digest = sha256 over the columns, in schema order, of
        name NUL type NUL then, by type,
        float64 / int64 / bool: a validity byte per row, then the values as
                                little-endian 8-byte floats / 8-byte ints /
                                bytes (0 where null)
        string:                 each value's UTF-8 length (8-byte little-endian),
                                then the values' bytes (null and "" alike, as a
                                CSV cell cannot tell them apart)

Both files and parts of a logged run use ``logged_schema``: the decision
columns, the seal columns (``engine.batch.seals``) and the record fields the
row was decided from, as ``input_<field>``, typed by their declaration.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.batch.seals import INPUT_PREFIX, SEAL_COLUMNS
from engine.records import FIELDS

__all__ = ["file_sha256", "logged_schema", "read_output", "row_groups", "table_digest"]

_KINDS = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}


def logged_schema(base: pa.Schema) -> pa.Schema:
    """``base`` (decision columns, with shadow columns if any) plus seal and input columns."""
    fields = [*base, *((name, pa.string()) for name in SEAL_COLUMNS)]
    fields += [(INPUT_PREFIX + f.name, _KINDS.get(f.kind, pa.string())) for f in FIELDS]
    return pa.schema(fields)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read a megabyte at a time."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


_SLICE = 65_536  # rows of a dictionary-coded text column decoded at once


def table_digest(table: pa.Table, schema: pa.Schema | None = None) -> str:
    """The part digest of ``table``'s rows (see the module docstring).

    ``schema`` gives the columns and their types when ``table`` keeps text
    columns dictionary-encoded, as a run's parts do: such a column is hashed
    as its values, decoded a slice of rows at a time, so the digest is the
    one of the decoded table and memory stays bounded by the slice.
    """
    h = hashlib.sha256()
    for f in schema if schema is not None else table.schema:
        h.update(f"{f.name}\0{f.type}\0".encode())
        column = table.column(f.name)
        arr = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            _hash_texts(h, arr)
            continue
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(f.type)
        valid = np.asarray(arr.is_valid(), dtype=np.uint8)
        h.update(valid.tobytes())
        if pa.types.is_boolean(f.type):
            values = np.asarray(pc.fill_null(arr, False), dtype=np.uint8)
        elif pa.types.is_integer(f.type):
            values = np.asarray(pc.fill_null(arr, 0), dtype="<i8")
        else:
            values = np.asarray(pc.fill_null(arr.cast(pa.float64()), 0.0), dtype="<f8")
        h.update(values.tobytes())
    return h.hexdigest()


def _hash_texts(h: Any, arr: pa.Array) -> None:
    """A text column's lengths, then its bytes (null hashed as empty text)."""
    if not pa.types.is_dictionary(arr.type):
        text = pa.concat_arrays([pc.fill_null(arr.cast(pa.large_string()), "")])
        h.update(_lengths(text).tobytes())
        _hash_data(h, text)
        return
    values = pc.fill_null(arr.dictionary.cast(pa.large_string()), "")
    sizes = _lengths(values) if len(values) else np.zeros(1, dtype="<i8")
    codes = np.asarray(pc.fill_null(arr.indices, -1), dtype=np.int64)
    h.update(np.where(codes >= 0, sizes[np.maximum(codes, 0)], 0).astype("<i8").tobytes())
    for start in range(0, len(arr), _SLICE):
        part = arr.slice(start, _SLICE).cast(pa.large_string())
        _hash_data(h, pa.concat_arrays([pc.fill_null(part, "")]))


def _offsets(text: pa.Array) -> np.ndarray:
    start = text.offset
    return np.frombuffer(text.buffers()[1], dtype="<i8", count=start + len(text) + 1)[start:]


def _lengths(text: pa.Array) -> np.ndarray:
    offsets = _offsets(text)
    return (offsets[1:] - offsets[:-1]).astype("<i8")


def _hash_data(h: Any, text: pa.Array) -> None:
    data = text.buffers()[2]
    if data is not None and len(text):
        offsets = _offsets(text)
        h.update(memoryview(data)[int(offsets[0]):int(offsets[-1])])


def read_output(path: Path, schema: pa.Schema) -> pa.Table:
    """A logged run's output (Parquet or CSV) read back with its schema."""
    if Path(path).suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path, schema=schema)
    import pyarrow.csv as pacsv

    options = pacsv.ConvertOptions(column_types=schema, strings_can_be_null=True,
                                   quoted_strings_can_be_null=False)
    return pacsv.read_csv(path, convert_options=options).select(schema.names)


def row_groups(parquet: Any, start: int, stop: int) -> tuple[list[int], int]:
    """The row groups of an open ``pq.ParquetFile`` holding rows ``start`` to ``stop``,
    and the file row the first of them starts at (``([], start)`` when none does)."""
    groups, offset, first = [], 0, None
    for i in range(parquet.num_row_groups):
        rows = parquet.metadata.row_group(i).num_rows
        if offset < stop and offset + rows > start:
            groups.append(i)
            first = offset if first is None else first
        offset += rows
    return groups, start if first is None else first
