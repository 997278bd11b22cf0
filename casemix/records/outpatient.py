"""Outpatient visits (门诊就诊), read beside inpatient cases so audit can see costs moved around a stay."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from casemix.records.case import CENT, Case, Rejection, cents_or_given

VISIT_ALIASES = {
    "id": ("id", "visit_id", "就诊流水号", "门诊号"),
    "patient_id": ("patient_id", "人员编号", "患者编号", "psn_no"),
    "hospital_id": ("hospital_id", "定点医疗机构代码", "医疗机构代码", "fixmedins_code"),
    "visit_date": ("visit_date", "就诊日期", "门诊日期"),
    "total_cost": ("total_cost", "门诊费用", "总费用", "medfee_sumamt"),
}


class OutpatientVisit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    patient_id: str = Field(min_length=1)
    hospital_id: str = Field(min_length=1)
    visit_date: date
    total_cost: Decimal = Field(ge=0, max_digits=14, decimal_places=2)


def read_visit(headers: list[str], values: list[Any], row_number: int) -> OutpatientVisit | Rejection:
    lookup = {alias.lower(): field for field, aliases in VISIT_ALIASES.items() for alias in aliases}
    fields = {lookup[h.strip().lower()]: v for h, v in zip(headers, values) if h.strip().lower() in lookup}
    if isinstance(fields.get("total_cost"), str) and fields["total_cost"]:
        fields["total_cost"] = cents_or_given(fields["total_cost"])
    try:
        return OutpatientVisit.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "record"
        return Rejection(row_number, str(fields.get("id", "")), field, first["msg"])


def synthetic_visits(cases: list[Case], visits_per_patient: float = 2.0, seed: int = 3) -> list[OutpatientVisit]:
    """Background outpatient visits for the patients of a synthetic city: random days, modest costs."""
    rng = random.Random(seed)
    patients = sorted({(c.patient_id, c.hospital_id) for c in cases if c.patient_id and c.hospital_id})
    year = min((c.admission_date.year for c in cases if c.admission_date), default=2025)
    visits = []
    for patient, hospital in patients:
        for _ in range(int(rng.expovariate(1 / visits_per_patient))):
            cost = Decimal(repr(rng.lognormvariate(5.5, 0.6))).quantize(CENT, ROUND_HALF_UP)
            visits.append(OutpatientVisit(id=f"V{len(visits):07d}", patient_id=patient, hospital_id=hospital,
                                          visit_date=date(year, 1, 1) + timedelta(days=rng.randrange(365)),
                                          total_cost=cost))
    return visits
