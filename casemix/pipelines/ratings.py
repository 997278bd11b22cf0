"""Read the bureau's hospital ratings for the year: assessment score (考核得分) and credit rating (信用等级).

The file has a row per hospital with ``hospital_id`` and either or both of ``assessment_score`` (0–100) and
``credit_rating`` (a rating the policy's ``credit_prepayment_shares`` prices); headers may carry their
Chinese label (``考核得分 · assessment_score``). A bad cell is a :class:`SettlementError` naming the file, the row
and the field, never a row skipped.
"""

from __future__ import annotations

import math
from pathlib import Path

from casemix.errors import SettlementError
from casemix.records.io import read_table
from casemix.records.labels import key_of
from casemix.settlement.assessment import Ratings

FIELDS = ("hospital_id", "assessment_score", "credit_rating")


def read_ratings(path: str | Path) -> Ratings:
    """The ratings in ``path``; SettlementError naming file, row and field for a missing hospital, a hospital
    given twice, a score that is not a number between 0 and 100, or a file with neither score nor rating."""
    table = read_table(path)
    headers = [key_of(str(h)).strip() for h in table.headers]
    if "hospital_id" not in headers or not {"assessment_score", "credit_rating"} & set(headers):
        raise SettlementError(f"{path}: needs the columns hospital_id and assessment_score and/or credit_rating, "
                              f"got {headers}")
    scores, credit = {}, {}
    for number, row in enumerate(table.rows, start=2):
        cells = {h: ("" if v is None else str(v).strip()) for h, v in zip(headers, row) if h in FIELDS}
        hospital = cells.get("hospital_id", "")
        if not hospital:
            raise SettlementError(f"{path}: row {number}: hospital_id is empty")
        if hospital in scores or hospital in credit:
            raise SettlementError(f"{path}: row {number}: hospital {hospital} is rated twice")
        if cells.get("assessment_score"):
            scores[hospital] = _score(cells["assessment_score"], path, number, hospital)
        if cells.get("credit_rating"):
            credit[hospital] = cells["credit_rating"]
    return Ratings(scores, credit)


def _score(text: str, path: str | Path, number: int, hospital: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 100:
        raise SettlementError(f"{path}: row {number} (hospital {hospital}): assessment_score must be a number "
                              f"from 0 to 100, got {text!r}")
    return value
