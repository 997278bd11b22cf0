"""Cases built from the cells the grouper reads (a case key), each field decided once per distinct cell.

The row reader (:meth:`RowReader.read` → :func:`~casemix.records.case.to_case`) is the reference for what a
valid case is, and it costs ~40 µs a row: the row as a dict, normalising, pydantic, the text checks. A table
with a million distinct keys pays that a million times, though its cells repeat: one length of stay, one
department, one sex word recurs in thousands of keys. Case validation holds no rule across fields (each
field's type and range, and the text checks, which look at each text and each code alone), so a key is
valid exactly when each of its cells is, and each field's value depends on its own cell only.

So each distinct cell of a one-value field (principal diagnosis, sex, age, age in days, birth weight,
length of stay, discharge mode, department) is read once *by the reference* — :func:`to_case` on a case
holding that field alone — and remembered: its value, absent (blank), or refused. Code lists (secondary
diagnoses, procedures, one ``diagnoses`` list, a separate main procedure) are split in columns where their
text is plainly codes (ASCII code characters between ``, ; |`` or spaces, each code within ``MAX_CODE``):
exactly the reference's split, then put together as the row reader puts them (the main procedure first; the
first of ``diagnoses`` principal where no column gives one, the rest secondary; at most ``MAX_CODES`` a list).
A key any of whose cells is refused or not plainly codes, or a table with numbered code columns (其他诊断编码1
…, each cell one code as written), is read by the row reader whole, so its rejection names the field as the
row path names it. Every other key becomes a :class:`Case` equal to the row reader's, field for field and in
``model_fields_set``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from casemix.records.case import MAX_CODE, MAX_CODES, Case, Rejection, RowReader, to_case
from casemix.records.columnar import PY_WHITESPACE

KEY_ID = "placeholder"                           # the record id a key's case carries (a key is no record)
ONE_VALUE = ("principal_dx", "sex", "age", "age_days", "birth_weight_g", "los_days", "discharge_mode", "department")
CODE_LISTS = ("secondary_dx", "procedures", "diagnoses", "main_procedure")
_PLAIN_CODES = r"^[0-9A-Za-z.+*/_ ,;|-]*$"       # codes a classification writes, between the reference's separators
_CODE = r"[^ ,;|]+"
_LONG_CODE = rf"[^ ,;|]{{{MAX_CODE + 1}}}"
_ABSENT, _REFUSED = object(), object()
_TEMPLATE = Case.model_construct(id=KEY_ID, principal_dx="-")   # fields_set {id, principal_dx}, as every key's
MAX_REMEMBERED = 1_000_000                       # distinct cells remembered per field before starting afresh


class KeyCases:
    """The cases of a table's distinct keys (columns ``key``, as :func:`casemix.records.columnar.grouper_columns`
    names them), each read as :class:`RowReader` reads a row holding the key's cells, a placeholder id and nothing
    else: :meth:`prepare` the keys (where they are shared, before worker processes fork), then :meth:`read`
    them, all at once or a span at a time, anywhere."""

    def __init__(self, reader: RowReader, key: list[str], width: int):
        self.reader, self.key, self.width = reader, key, width
        self.positions = [int(name[1:]) for name in key]
        by_index = {index: field for field, index in reader.single.items()}
        self.fields = [by_index.get(position) for position in self.positions]
        self.id_index = reader.single.get("id")
        self.in_columns = not reader.numbered and set(self.fields) <= {*ONE_VALUE, *CODE_LISTS}
        self.known: dict[str, dict[str, Any]] = {field: {} for field in ONE_VALUE}

    def prepare(self, keys: pl.DataFrame) -> PreparedKeys:
        """``keys`` ready to :meth:`read`: each new distinct cell of a one-value field read by the reference and
        remembered, code lists split, all as Python values. Run it where the keys are shared, before worker
        processes fork: it is the polars work (a forked child must not call polars, whose threads stay behind)."""
        cells = keys.select(self.key).rows()
        if not self.in_columns:
            return PreparedKeys(cells, [False] * len(cells), [])
        self._learn(keys)
        plain, split = [pl.lit(True)], []
        for name, field in zip(self.key, self.fields, strict=True):
            if field in CODE_LISTS:
                text = pl.col(name).str.strip_chars(PY_WHITESPACE)
                given = text.is_not_null() & (text != "")
                plain.append(~given | (text.str.contains(_PLAIN_CODES) & ~text.str.contains(_LONG_CODE)))
                split.append(pl.when(given).then(text.str.extract_all(_CODE)).alias(field))
        columns = keys.with_columns(pl.all_horizontal(plain).alias("_plain"), *split)   # a literal: one per key
        lists = [(field, columns.get_column(field).to_list()) for field in self.fields if field in CODE_LISTS]
        return PreparedKeys(cells, columns.get_column("_plain").to_list(), lists)

    def _learn(self, keys: pl.DataFrame) -> None:
        for name, field in zip(self.key, self.fields, strict=True):
            if field in ONE_VALUE:
                known = self.known[field]
                if len(known) > MAX_REMEMBERED:
                    known.clear()
                for cell in keys.get_column(name).unique().to_list():
                    if cell is not None and cell not in known:
                        known[cell] = _read_cell(field, cell)

    def read(self, prepared: PreparedKeys, start: int = 0, stop: int | None = None) -> list[Case | Rejection]:
        """The case (or rejection) of each prepared key from ``start`` to ``stop``, in order. Python alone: it
        runs in worker processes."""
        one_value = [(at, field, self.known[field]) for at, field in enumerate(self.fields) if field in ONE_VALUE]
        out: list[Case | Rejection] = []
        for number in range(start, len(prepared.cells) if stop is None else stop):
            values = prepared.cells[number]
            update = _remembered(values, one_value) if prepared.plain[number] else None
            case = None if update is None else _with_codes(update, {field: codes[number]
                                                                    for field, codes in prepared.lists})
            out.append(self.reader.read(self.row(values), 0) if case is None else case)
        return out

    def row(self, cells: tuple) -> list:
        """The key as a whole row of the table: its cells in their places, the placeholder id, the rest empty."""
        row: list = [None] * self.width
        for position, value in zip(self.positions, cells, strict=True):
            row[position] = value
        if self.id_index is not None:
            row[self.id_index] = KEY_ID
        return row


@dataclass(frozen=True, slots=True)
class PreparedKeys:
    """Keys as Python values: ``cells`` (a tuple per key), ``plain`` (whether its code lists are plainly codes)
    and ``lists`` (each code-list field with its split codes per key, None where the cell is blank)."""

    cells: list[tuple]
    plain: list[bool]
    lists: list[tuple[str, list[list[str] | None]]]


def _read_cell(field: str, cell: str) -> Any:
    """One cell of a one-value field as the reference reads it: its value, ``_ABSENT`` or ``_REFUSED``."""
    text = cell.strip()
    if not text:
        return _ABSENT
    case = to_case({"id": KEY_ID, "principal_dx": "-", field: text})
    return getattr(case, field) if isinstance(case, Case) else _REFUSED


def _remembered(values: tuple, one_value: list[tuple[int, str, dict[str, Any]]]) -> dict[str, Any] | None:
    """The key's one-value fields from remembered cells; None where one is refused."""
    update: dict[str, Any] = {"id": KEY_ID}
    for at, field, known in one_value:
        cell = values[at]
        if cell is None:
            continue
        value = known.get(cell, _REFUSED)
        if value is _REFUSED:
            return None
        if value is not _ABSENT:
            update[field] = value
    return update


def _with_codes(update: dict[str, Any], lists: dict[str, list[str] | None]) -> Case | None:
    """The case, its code lists put together as :meth:`RowReader.fields` puts them (a list given but blank of
    codes, like ``,,``, is an empty tuple); None where a list holds too many codes or no principal is found."""
    for field in ("secondary_dx", "procedures"):
        if lists.get(field) is not None:
            update[field] = tuple(lists[field])
    main, diagnoses = lists.get("main_procedure"), lists.get("diagnoses")
    if main is not None:
        update["procedures"] = (*main, *update.get("procedures", ()))
    if diagnoses is not None:
        if diagnoses and "principal_dx" not in update:
            update["principal_dx"], diagnoses = diagnoses[0], diagnoses[1:]
        update["secondary_dx"] = (*update.get("secondary_dx", ()), *diagnoses)
    if "principal_dx" not in update or any(len(update.get(f, ())) > MAX_CODES for f in ("secondary_dx", "procedures")):
        return None
    return _TEMPLATE.model_copy(update=update)
