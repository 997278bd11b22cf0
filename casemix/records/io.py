"""Read and write case tables: CSV (UTF-8, GBK/GB18030), xlsx and Parquet.

Chinese hospital and bureau exports come as often in GBK/GB18030 or Excel as in UTF-8 CSV, so
the reader sniffs the encoding and the format from the file itself (suffix first, then content).
Every cell is read as text; :mod:`casemix.records.case` does the typing, so a bad cell becomes a
rejection naming its field rather than a failed load.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from casemix.errors import TableError
from casemix.records.case import Case, Rejection, RowReader
from casemix.records.labels import key_of, labelled

ENCODINGS = ("utf-8-sig", "gb18030")
csv.field_size_limit(2**31 - 1)     # a huge cell is read, then its row rejected naming the field (case.MAX_TEXT)
# Text a spreadsheet would run as a formula (=, +, -, @) or that hides one behind a tab or carriage return
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True, slots=True)
class Table:
    """Header plus rows of cell values, as read; ``encoding`` says how text was decoded."""

    headers: list[str]
    rows: list[list[Any]]
    encoding: str


def read_table(path: str | Path) -> Table:
    """Every row of a CSV, xlsx (first sheet) or Parquet file as text cells; a file that is missing, a
    folder, or damaged raises :class:`TableError` naming it."""
    path = Path(path)
    if path.is_dir():
        raise TableError(f"{path}: is a folder, not a table file")
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            return _read_xlsx(path)
        if suffix == ".parquet":
            return _read_parquet(path)
        return _read_csv(path)
    except TableError:
        raise
    except Exception as error:          # each reader's own damage errors: zip, XML, Parquet footer, CSV
        raise TableError(f"{path}: cannot be read as {suffix.lstrip('.') or 'CSV'} "
                         f"({type(error).__name__}: {str(error)[:200]})") from None


def decode(raw: bytes, origin: str = "<bytes>") -> tuple[str, str]:
    """Text and the encoding that decoded it: UTF-8 (with or without BOM), else GB18030 (⊇ GBK)."""
    for encoding in ENCODINGS:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise TableError(f"{origin}: neither UTF-8 nor GB18030/GBK text")


def _read_csv(path: Path) -> Table:
    text, encoding = decode(path.read_bytes(), str(path))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text[:20000]))
    try:
        headers = [h.strip() for h in next(reader)]
    except StopIteration:
        raise TableError(f"{path}: empty file") from None
    return Table(headers, [row for row in reader if any(cell.strip() for cell in row)], encoding)


def sniff_delimiter(sample: str) -> str:
    """The delimiter of a CSV file from its first 20,000 characters: comma, tab, semicolon or bar."""
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        delimiter = ","
    if delimiter == "|" and "," in (sample.splitlines() or [""])[0]:
        delimiter = ","     # code lists joined by | inside comma-separated rows
    return delimiter


def _read_xlsx(path: Path) -> Table:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        headers = [key_of(str(h).strip()) if h is not None else "" for h in next(rows, ())]
        if not headers:
            raise TableError(f"{path}: the first sheet is empty")
        body = [[_cell(v) for v in row] for row in rows if any(v not in (None, "") for v in row)]
    finally:
        workbook.close()
    return Table(headers, body, "xlsx")


def _cell(value: Any) -> Any:
    """Excel turns 13110001 into 13110001.0 and codes into floats; give back what was typed."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if value is None or isinstance(value, str) else str(value)


def _read_parquet(path: Path) -> Table:
    import polars as pl

    frame = pl.read_parquet(path)
    frame = frame.with_columns(pl.all().cast(pl.String))
    return Table(frame.columns, [list(row) for row in frame.iter_rows()], "parquet")


def read_rows(path: str | Path) -> list[tuple[int, Case | Rejection]]:
    """Each row of a file with its number (1 = the first row under the header), as a case or a rejection."""
    table = read_table(path)
    reader = RowReader(table.headers)
    return [(number, reader.read(row, number)) for number, row in enumerate(table.rows, 1)]


def read_cases(path: str | Path) -> tuple[list[Case], list[Rejection]]:
    """The valid cases of a file and the rows rejected (each naming its record and field)."""
    parsed = [row for _, row in read_rows(path)]
    return [c for c in parsed if isinstance(c, Case)], [r for r in parsed if isinstance(r, Rejection)]


def read_distinct_cases(path: str | Path) -> tuple[list[Case], list[Rejection]]:
    """As :func:`read_cases`, but a case whose (hospital, case id) an earlier row of the same file
    already holds is rejected, naming that row: a store keeps one version per key, and a settlement
    must not pay one stay twice."""
    cases: list[Case] = []
    rejections: list[Rejection] = []
    first_row: dict[tuple[str, str], int] = {}
    for number, parsed in read_rows(path):
        if isinstance(parsed, Case):
            key = (parsed.hospital_id or "", parsed.id)
            if key in first_row:
                parsed = Rejection(number, parsed.id, "id", f"case {parsed.id} of hospital {key[0] or '(none)'} "
                                                            f"repeats row {first_row[key]} of this file")
            else:
                first_row[key] = number
        (cases if isinstance(parsed, Case) else rejections).append(parsed)
    return cases, rejections


CASE_FILE_COLUMNS = ["id", "hospital_id", "hospital_level", "patient_id", "sex", "age", "age_days", "birth_weight_g",
                     "department", "physician", "admission_date", "discharge_date", "icu_start", "icu_end", "los_days",
                     "discharge_mode", "principal_dx", "secondary_dx", "procedures", "total_cost", "self_pay",
                     "insurance_type"]


def write_cases(path: str | Path, cases: list[Case]) -> Path:
    """Cases as a table that ``read_cases`` reads back to equal cases: every field, code lists
    comma-joined, charges in ``fee_<category>`` columns; by suffix as ``write_table``."""
    fee_keys = sorted({key for case in cases for key in case.fees or {}})

    def text(value: object) -> str:
        if value is None:
            return ""
        return ",".join(value) if isinstance(value, tuple) else str(value)

    def row(case: Case) -> list[str]:
        fees = case.fees or {}
        return [text(getattr(case, column)) for column in CASE_FILE_COLUMNS] + [text(fees.get(k)) for k in fee_keys]

    return write_table(path, CASE_FILE_COLUMNS + [f"fee_{key}" for key in fee_keys], [row(case) for case in cases])


def inert(value: Any) -> Any:
    """A cell as a spreadsheet may show it: text that would start a formula gets a leading apostrophe
    (OWASP's CSV-injection advice); numbers, signed ones included, stay as they are."""
    if value.__class__ is str and value.startswith(_FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def append_inert(sheet: Any, row: list[Any]) -> None:
    """Append ``row`` to an openpyxl worksheet (not write-only) with its text cells inert and typed as
    strings, as :func:`write_table` writes them."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    sheet.append([ILLEGAL_CHARACTERS_RE.sub("\ufffd", inert(v)) if v.__class__ is str else v for v in row])
    for cell in sheet[sheet.max_row]:
        if cell.value.__class__ is str:
            cell.data_type = "s"


def sheet_title(name: str) -> str:
    """A worksheet title from data: Excel forbids \\ * ? : / [ ] and more than 31 characters."""
    return re.sub(r"[\\*?:/\[\]]", "_", name)[:31] or "_"


def check_output(output: str | Path, *inputs: str | Path | None) -> Path:
    """``output`` unless it is one of ``inputs`` or a folder, which a command would overwrite."""
    output = Path(output)
    if output.is_dir():
        raise TableError(f"{output}: is a folder; name a file to write")
    for source in inputs:
        if source is not None and Path(source).exists() and output.exists() and output.samefile(source):
            raise TableError(f"{output}: is also an input; choose another output file")
    return output


def write_table(path: str | Path, headers: list[str], rows: Iterator[list[Any]] | list[list[Any]],
                encoding: str = "utf-8-sig") -> Path:
    """Write by suffix: .csv (UTF-8 with BOM so Excel shows Chinese; or gb18030), .xlsx, .parquet.

    Cells keep their type: ``Decimal``, ``int`` and ``float`` values are numbers in xlsx (money with two
    decimals) and typed columns in Parquet; text stays text. Text cells are made inert (:func:`inert`)
    in CSV and xlsx, and xlsx text cells are always strings, never formulas, so nothing from the data
    runs when a bureau opens the file. The xlsx header row is frozen and columns sized to their content."""
    path = Path(path)
    if path.is_dir():
        raise TableError(f"{path}: is a folder; name a file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        _write_xlsx(path, headers, list(rows))
    elif suffix == ".parquet":
        _write_parquet(path, headers, list(rows))
    else:
        with path.open("w", encoding=encoding, newline="") as f:
            writer = csv.writer(f)
            writer.writerow([inert(h) for h in headers])
            writer.writerows([inert(v) for v in row] for row in rows)
    return path


def _write_xlsx(path: Path, headers: list[str], rows: list[list[Any]]) -> None:
    write_sheets(path, [("cases", [labelled(h) for h in headers], rows)])


Sheet = tuple[str, Sequence[str], Sequence[Sequence[Any]]]       # name, header texts, rows


def write_sheets(path: str | Path, sheets: Sequence[Sheet]) -> Path:
    """An xlsx workbook of one sheet per ``(name, headers, rows)``, each as :func:`write_table` writes xlsx:
    bold header row frozen, columns sized to their content, numbers as numbers (money with two decimals), text
    inert and always a string. Raises :class:`TableError` when ``path`` is a folder or not an .xlsx name."""
    from openpyxl import Workbook

    path = Path(path)
    if path.is_dir() or path.suffix.lower() != ".xlsx":
        raise TableError(f"{path}: name an .xlsx file for the workbook")
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = Workbook(write_only=True)
    for name, headers, rows in sheets:
        _fill_sheet(workbook, name, headers, rows)
    workbook.save(path)
    return path


def _fill_sheet(workbook: Any, name: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    sheet = workbook.create_sheet(sheet_title(name))
    sheet.freeze_panes = "A2"
    for index, header in enumerate(headers, 1):
        longest = max([len(str(header)), *(len(str(row[index - 1])) for row in rows[:200] if index <= len(row))])
        sheet.column_dimensions[get_column_letter(index)].width = min(max(longest + 2, 8), 60)

    def cell(value: Any) -> Any:
        if value.__class__ is Decimal:
            number = WriteOnlyCell(sheet, value)
            number.number_format = "#,##0.00" if value.as_tuple().exponent == -2 else "General"
            return number
        if value.__class__ is not str:
            return value
        text = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("\ufffd", inert(value)))
        text.data_type = "s"            # a string even where it starts with "=": never a formula
        return text

    header_cells = [cell(str(h)) for h in headers]
    for header in header_cells:
        header.alignment, header.font = Alignment(wrap_text=True, vertical="top"), Font(bold=True)
    sheet.append(header_cells)
    for row in rows:
        sheet.append([cell(v) for v in row])


def _write_parquet(path: Path, headers: list[str], rows: list[list[Any]]) -> None:
    """Each column typed by its values: whole numbers Int64, money Decimal, other numbers Float64, else text."""
    import polars as pl

    columns, schema = {}, {}
    for i, header in enumerate(headers):
        values = [row[i] if i < len(row) else None for row in rows]
        kinds = {v.__class__ for v in values if v is not None and v != ""}
        if kinds == {int}:
            schema[header] = pl.Int64
        elif kinds == {Decimal}:
            scale = max(-v.as_tuple().exponent for v in values if v.__class__ is Decimal)
            schema[header] = pl.Decimal(38, max(scale, 0))
        elif kinds and kinds <= {int, float}:
            schema[header] = pl.Float64
        else:
            schema[header], values = pl.String, [None if v is None else str(v) for v in values]
        columns[header] = [None if v == "" else v for v in values]
    pl.DataFrame(columns, schema=schema).write_parquet(path)
