"""One xlsx workbook of several sheets for people to read: Chinese headers with the English key beside them.

Each sheet is ``(name, columns, rows)``; ``columns`` are ``(key, 中文)`` pairs and each header is written
``中文 · key`` (:data:`casemix.records.labels.SEPARATOR`, read back by ``key_of``). Cells keep their type as in
:func:`casemix.records.io.write_table`: ``Decimal``, ``int`` and ``float`` are numbers (money with two decimals),
text is made inert and always a string, never a formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from casemix.errors import TableError
from casemix.records.io import inert
from casemix.records.labels import SEPARATOR

Sheet = tuple[str, Sequence[tuple[str, str]], Sequence[Sequence[Any]]]
_BAD_SHEET_CHARACTERS = str.maketrans({c: "_" for c in "[]:*?/\\"})


def header(key: str, chinese: str) -> str:
    """``中文 · key``."""
    return f"{chinese}{SEPARATOR}{key}"


def write_workbook(path: str | Path, sheets: Sequence[Sheet]) -> Path:
    """Write ``sheets`` to the xlsx file ``path``, header row frozen, columns sized to their content.
    Raises :class:`TableError` when ``path`` is a folder or not an .xlsx name."""
    from openpyxl import Workbook

    path = Path(path)
    if path.is_dir() or path.suffix.lower() != ".xlsx":
        raise TableError(f"{path}: name an .xlsx file for the workbook")
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = Workbook(write_only=True)
    for name, columns, rows in sheets:
        _sheet(workbook, name, columns, rows)
    workbook.save(path)
    return path


def _sheet(workbook: Any, name: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    sheet = workbook.create_sheet(name.translate(_BAD_SHEET_CHARACTERS)[:31])
    sheet.freeze_panes = "A2"
    headers = [header(key, chinese) for key, chinese in columns]
    for index, text in enumerate(headers, 1):
        longest = max([len(text), *(len(str(row[index - 1])) for row in rows[:200] if index <= len(row))])
        sheet.column_dimensions[get_column_letter(index)].width = min(max(longest + 2, 8), 60)

    def cell(value: Any) -> Any:
        if value.__class__ is Decimal:
            number = WriteOnlyCell(sheet, value)
            number.number_format = "#,##0.00" if value.as_tuple().exponent == -2 else "General"
            return number
        if value is None or value.__class__ is not str:
            return value
        text = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("\ufffd", inert(value)))
        text.data_type = "s"
        return text

    top = []
    for text in headers:
        head = cell(text)
        head.alignment, head.font = Alignment(wrap_text=True, vertical="top"), Font(bold=True)
        top.append(head)
    sheet.append(top)
    for row in rows:
        sheet.append([cell(v) for v in row])
