"""Case tables read into columns, and the field checks that can be proved in columns.

The row reader (:class:`casemix.records.case.RowReader` → :func:`~casemix.records.case.to_case`) is
the reference for what a valid case is. This module reads the same table as a polars frame of text
cells — the same header, the same rows, the same row numbers as :func:`casemix.records.io.read_table`
— and marks, column by column, the rows whose fields the grouper does not read (ids, money, dates,
charges, hospital and patient text) are *certainly* valid: a conservative test, so a row it cannot
prove valid goes back to the row reader, which names the record and field. Nothing is decided here
that the row reader would decide differently.
"""

from __future__ import annotations

import codecs
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from casemix.errors import TableError
from casemix.records.case import MAX_TEXT, RowReader
from casemix.records.io import ENCODINGS, read_table, sniff_delimiter

# what Python's str.strip() removes (str.isspace), so blank cells and ids strip as the row reader strips them
PY_WHITESPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
# fields the grouper reads (engine and regional grouper): they form the case key, checked by the row reader
GROUPER_FIELDS = ("principal_dx", "secondary_dx", "diagnoses", "procedures", "main_procedure", "sex", "age",
                  "age_days", "birth_weight_g", "los_days", "discharge_mode", "department")
_TEXT_FIELDS = ("id", "physician", "hospital_id", "hospital_level", "patient_id", "insurance_type")
_MONEY_FIELDS = ("total_cost", "self_pay")
_DATE_FIELDS = ("admission_date", "discharge_date", "icu_start", "icu_end")
# at most 11 integer digits: quantized to the cent it stays within Case's max_digits=14, rounding included
_PLAIN_MONEY = r"^[0-9]{1,11}(\.[0-9]*)?$"
SCAN_BLOCK = 1 << 24     # bytes read at a time when checking a CSV file
_LONE_CR = re.compile(rb"\r(?!\n)")
_STRAY_QUOTE = re.compile(rb'"(?<=[^,;\t|\r\n"]")(?=[^,;\t|\r\n"])')     # a"b; the quote first, so re scans fast
_PLAIN_FEE = r"^-?[0-9]{1,11}(\.[0-9]*)?$"


class PolarsCannotRead(TableError):
    """polars cannot parse a CSV file that Python's csv module may still read: group it by rows."""


CHUNK_ROWS = 200_000     # rows read, grouped and written at a time: memory stays flat at any file size


@dataclass(frozen=True, slots=True)
class ColumnTable:
    """A case table as text columns ``c0`` … ``c{n-1}`` plus ``row`` (1 = first data row, as the row reader
    numbers rows), in chunks of at most ``CHUNK_ROWS`` rows; ``headers`` as :func:`read_table` gives them.
    ``chunks`` can be walked once."""

    headers: list[str]
    chunks: Iterator[pl.DataFrame]
    encoding: str

    def column(self, index: int) -> str:
        return f"c{index}"


def read_columns(path: str | Path, chunk_rows: int = CHUNK_ROWS) -> ColumnTable:
    """The table of ``path`` as text columns: CSV (UTF-8 or GB18030) streamed by polars in chunks; xlsx
    and Parquet through :func:`read_table` (same cells), as one chunk. Raises :class:`TableError` as
    :func:`read_table` does."""
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm", ".parquet") or not path.is_file():
        table = read_table(path)
        width = len(table.headers)
        frame = pl.DataFrame([_padded(row, width) for row in table.rows], schema=[f"c{i}" for i in range(width)],
                             orient="row", schema_overrides={f"c{i}": pl.String for i in range(width)})
        return ColumnTable(table.headers, iter([_numbered(frame, 1)]), table.encoding)
    return _read_csv_columns(path, chunk_rows)


def columns_read_as_rows(path: str | Path) -> bool:
    """Whether polars is sure to read this file into the same cells as Python's csv module (:func:`read_table`):
    every xlsx and Parquet file; a CSV file unless it holds text the two parsers split differently — a
    carriage return not followed by a line feed, a quote inside an unquoted cell, or an unclosed quote.
    Where False, group by rows."""
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm", ".parquet") or not path.is_file():
        return True
    carry, quotes = b"", 0
    with path.open("rb") as f:
        while block := f.read(SCAN_BLOCK):
            text = carry + block
            lone_cr = _LONE_CR.search(text)         # one at the very end waits for the next block
            if (lone_cr and lone_cr.start() < len(text) - 1) or _STRAY_QUOTE.search(text):
                return False
            quotes += block.count(b'"')
            carry = text[-2:]
    return not carry.endswith(b"\r") and quotes % 2 == 0


def _padded(row: list, width: int) -> list:
    return [None if v is None else str(v) for v in row[:width]] + [None] * (width - len(row))


def _numbered(frame: pl.DataFrame, first: int) -> pl.DataFrame:
    return frame.with_row_index("row", offset=first).with_columns(pl.col("row").cast(pl.Int64))


def _read_csv_columns(path: Path, chunk_rows: int) -> ColumnTable:
    encoding = file_encoding(path)
    with path.open("rb") as f:
        head = f.read(80_000)
    source, converted = path, None
    if encoding != "utf-8-sig":         # polars reads UTF-8 only: GB18030 is converted to a scratch file first
        handle, name = tempfile.mkstemp(suffix=".csv")
        with os.fdopen(handle, "wb") as out:
            out.write(path.read_bytes().decode(encoding).encode("utf-8"))
        source = converted = Path(name)
        with source.open("rb") as f:
            head = f.read(80_000)
    text_start = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)[:20_000]
    options = {"has_header": False, "infer_schema": False, "separator": sniff_delimiter(text_start),
               "quote_char": '"', "truncate_ragged_lines": True}
    try:
        first = pl.read_csv(source, n_rows=1, raise_if_empty=False, **options)
        if first.height == 0:
            raise TableError(f"{path}: empty file")
        headers = [(h or "").strip() for h in first.row(0)]
        batches = pl.scan_csv(source, **options).collect_batches(chunk_size=chunk_rows)
    except pl.exceptions.PolarsError as error:
        raise PolarsCannotRead(f"{path}: polars cannot read it as CSV ({type(error).__name__})") from None
    return ColumnTable(headers, _body_chunks(path, batches, converted), encoding)


def _body_chunks(path: Path, batches: Iterator[pl.DataFrame], converted: Path | None) -> Iterator[pl.DataFrame]:
    """Data rows in chunks, the header row and blank rows dropped (as the row reader drops them), numbered."""
    number, header_seen = 1, False
    try:
        for batch in batches:
            batch = batch.rename({name: f"c{i}" for i, name in enumerate(batch.columns)})
            if not header_seen:
                batch, header_seen = batch.slice(1), True
            blank = pl.all_horizontal(pl.col(c).fill_null("").str.strip_chars(PY_WHITESPACE) == ""
                                      for c in batch.columns)
            body = batch.filter(~blank)
            yield _numbered(body, number)
            number += body.height
    except pl.exceptions.PolarsError as error:
        raise PolarsCannotRead(f"{path}: polars cannot read it as CSV ({type(error).__name__})") from None
    finally:
        if converted is not None:
            converted.unlink(missing_ok=True)


def file_encoding(path: Path) -> str:
    """As :func:`casemix.records.io.decode` decides it (UTF-8 with or without BOM, else GB18030), read in
    blocks so a large file is never held as text."""
    for encoding in ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as f:
                while block := f.read(1 << 24):
                    decoder.decode(block)
            decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    raise TableError(f"{path}: neither UTF-8 nor GB18030/GBK text")


def grouper_columns(reader: RowReader) -> list[int]:
    """Indexes of the columns whose cells decide the grouping: the case key."""
    single = [index for field, index in reader.single.items() if field in GROUPER_FIELDS]
    return sorted({*single, *(i for indexes in reader.numbered.values() for i in indexes)})


def row_id(table: ColumnTable, reader: RowReader) -> pl.Expr:
    """The record id the row reader gives each row: the id cell stripped, else ``row<number>``."""
    fallback = pl.lit("row") + pl.col("row").cast(pl.String)
    if "id" not in reader.single:
        return fallback
    cell = pl.col(table.column(reader.single["id"])).str.strip_chars(PY_WHITESPACE)
    return pl.when(cell.is_null() | (cell == "")).then(fallback).otherwise(cell)


def certainly_valid(table: ColumnTable, reader: RowReader) -> pl.Expr:
    """True where every field the grouper does not read is one the row reader accepts as it stands;
    False where it may not be (the row reader then decides, and names the field)."""
    checks: list[pl.Expr] = [pl.lit(True)]
    for field, index in reader.single.items():
        cell = pl.col(table.column(index))
        stripped = cell.str.strip_chars(PY_WHITESPACE)
        absent = stripped.is_null() | (stripped == "")
        if field in _TEXT_FIELDS:
            checks.append(absent | ((stripped.str.len_chars() <= MAX_TEXT) & ~stripped.str.contains("\x00",
                                                                                                       literal=True)))
        elif field in _MONEY_FIELDS:
            checks.append(absent | stripped.str.contains(_PLAIN_MONEY))
        elif field in _DATE_FIELDS:
            checks.append(absent | _plain_date(stripped))
        elif field not in GROUPER_FIELDS:
            checks.append(pl.lit(False))       # a field this module does not know: let the row reader decide
    for _, index in reader._fees:
        cell = pl.col(table.column(index))
        checks.append(cell.is_null() | (cell == "") | cell.str.contains(_PLAIN_FEE))
    return pl.all_horizontal(checks)


def _plain_date(stripped: pl.Expr) -> pl.Expr:
    """A date the row reader's normalising turns into a valid YYYY-MM-DD (year 1 or later)."""
    head = _date_head(stripped)
    parsed = head.str.to_date("%Y-%m-%d", strict=False)
    return head.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$") & parsed.is_not_null() & (parsed.dt.year() >= 1)


def _date_head(stripped: pl.Expr) -> pl.Expr:
    """The row reader's date normalising: the first 10 characters, / and . as -, 20240301 → 2024-03-01."""
    head = stripped.str.slice(0, 10).str.replace_all("/", "-", literal=True).str.replace_all(".", "-", literal=True)
    return pl.when(head.str.contains(r"^[0-9]{8}$")).then(
        head.str.slice(0, 4) + "-" + head.str.slice(4, 2) + "-" + head.str.slice(6, 2)).otherwise(head)


def field_text(table: ColumnTable, reader: RowReader, field: str) -> pl.Expr:
    """A text field as the row reader gives it: the cell stripped, null where blank or where the file has no
    such column."""
    if field not in reader.single:
        return pl.lit(None, dtype=pl.String)
    stripped = pl.col(table.column(reader.single[field])).str.strip_chars(PY_WHITESPACE)
    return pl.when(stripped == "").then(None).otherwise(stripped)


def fen_of(text: pl.Expr) -> pl.Expr:
    """Plain money text (``_PLAIN_MONEY``, or a fee cell's ``_PLAIN_FEE`` with its sign) in integer fen, rounded
    half up as the row reader rounds it to the cent; null where the text is null."""
    parts = text.str.strip_prefix("-").str.split_exact(".", 1)
    thousandths = (parts.struct.field("field_1").fill_null("") + "000").str.slice(0, 3).cast(pl.Int64)
    fen = parts.struct.field("field_0").cast(pl.Int64) * 100 + thousandths // 10 + (thousandths % 10 >= 5)
    return pl.when(text.str.starts_with("-")).then(-fen).otherwise(fen)


def fen_text(fen: pl.Expr, negative: pl.Expr | None = None) -> pl.Expr:
    """Fen as the text ``str`` gives a Decimal to the cent: 1234.50, 0.05, -0.03; null stays null. The sign is
    ``fen``'s, or ``negative``'s where given: a Decimal keeps the sign it was written with, so -0.001 is -0.00."""
    size = fen.abs()
    sign = pl.when(fen < 0 if negative is None else negative).then(pl.lit("-")).otherwise(pl.lit(""))
    return sign + (size // 100).cast(pl.String) + "." + (size % 100).cast(pl.String).str.zfill(2)


def field_date(table: ColumnTable, reader: RowReader, field: str) -> pl.Expr:
    """A date field as the row reader reads it, on rows ``certainly_valid`` passes (null where blank)."""
    return _date_head(field_text(table, reader, field)).str.to_date("%Y-%m-%d", strict=False)


def field_date_text(table: ColumnTable, reader: RowReader, field: str) -> pl.Expr:
    """A date field as the row reader normalises it (YYYY-MM-DD), on rows ``certainly_valid`` passes (null where
    blank): the text a Case's JSON holds for it."""
    return _date_head(field_text(table, reader, field))


# Python's csv.QUOTE_MINIMAL with inert(): text a spreadsheet would run gets a leading apostrophe
_FORMULA = r"^[=+\-@\t\r]"
_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\n?$"      # io._NUMBER; Python's $ also matches before a final \n


def write_csv_chunks(chunks: Iterator[pl.DataFrame], headers: list[str], output: str | Path) -> Path:
    """Text frames (columns ``headers``, null or "" for an empty cell) written to a CSV file byte for byte as
    :func:`casemix.records.io.write_table` writes those rows: UTF-8 with BOM, minimal quoting, CRLF, inert text."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("wb") as f:
        f.write("\ufeff".encode())
        f.write((",".join(headers) + "\r\n").encode())
        for chunk in chunks:
            inert = chunk.select(_inert(pl.col(name)).alias(name) for name in headers)
            inert.write_csv(f, include_header=False, line_terminator="\r\n", quote_style="necessary", null_value="")
    return output


def _inert(cell: pl.Expr) -> pl.Expr:
    text = pl.when(cell == "").then(None).otherwise(cell)
    return pl.when(text.str.contains(_FORMULA) & ~text.str.contains(_NUMBER)).then("'" + text).otherwise(text)
