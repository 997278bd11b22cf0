"""One xlsx workbook of several sheets for people to read: Chinese headers with the English key beside them.

Each sheet is ``(name, columns, rows)``; ``columns`` are ``(key, 中文)`` pairs and each header is written
``中文 · key`` (:data:`casemix.records.labels.SEPARATOR`, read back by ``key_of``). The cells are written by
:func:`casemix.records.io.write_sheets`, as every xlsx output is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from casemix.records.io import write_sheets
from casemix.records.labels import SEPARATOR

Sheet = tuple[str, Sequence[tuple[str, str]], Sequence[Sequence[Any]]]


def header(key: str, chinese: str) -> str:
    """``中文 · key``."""
    return f"{chinese}{SEPARATOR}{key}"


def write_workbook(path: str | Path, sheets: Sequence[Sheet]) -> Path:
    """Write ``sheets`` to the xlsx file ``path``; raises ``TableError`` for a folder or a name not .xlsx."""
    return write_sheets(path, [(name, [header(key, chinese) for key, chinese in columns], rows)
                               for name, columns, rows in sheets])
