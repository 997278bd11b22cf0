"""A synthetic pooling area (统筹区) built from real cases, for the demo, simulations and benchmarks.

Hospitals come in three tiers (三级/二级/一级) with different volumes and cost levels. Each stay
resamples a real de-identified case (its codes, age, sex, length of stay, discharge mode and cost),
then takes the hospital's cost level and some noise; patients recur, and a share of stays are
readmissions of the same patient with the same codes within a month, so readmission rules have work.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from casemix.errors import InputError
from casemix.records.case import CENT, Case


@dataclass(frozen=True)
class Tier:
    level: str
    share_of_hospitals: float
    volume: float           # relative cases per hospital
    cost_level: float       # multiplies the real case's cost


TIERS = (Tier("三级", 0.1, 8.0, 1.25), Tier("二级", 0.3, 3.0, 1.0), Tier("一级", 0.6, 1.0, 0.8))


def synthetic_city(sample: list[Case], hospitals: int = 100, cases: int = 100_000, year: int = 2025,
                   readmission_share: float = 0.03, seed: int = 2025, patients: int | None = None) -> list[Case]:
    """``cases`` stays over ``hospitals`` hospitals, resampled from ``sample`` (cases with a cost);
    ``patients`` distinct patients (default 0.8 × cases, so some return by chance)."""
    rng = random.Random(seed)
    pool = [c for c in sample if c.total_cost]
    if not pool:
        raise InputError("the sample has no case with a cost to resample")
    plan = _hospitals(hospitals, rng)
    weights = [tier.volume for _, tier, _ in plan]
    start = date(year, 1, 1)
    out: list[Case] = []
    for number in range(cases):
        if out and rng.random() < readmission_share:
            out.append(_readmission(out[rng.randrange(len(out))], number, rng, year))
            continue
        hospital_id, tier, level = rng.choices(plan, weights)[0]
        real = rng.choice(pool)
        los = real.los_days if real.los_days is not None else 7
        admitted = start + timedelta(days=rng.randrange(365))
        cost = (real.total_cost * Decimal(repr(level * rng.lognormvariate(0, 0.1)))).quantize(CENT, ROUND_HALF_UP)
        out.append(real.model_copy(update={
            "id": f"S{number:07d}", "hospital_id": hospital_id, "hospital_level": tier.level,
            "patient_id": f"P{rng.randrange(patients or int(cases * 0.8) + 1):07d}", "admission_date": admitted,
            "discharge_date": admitted + timedelta(days=los), "total_cost": cost,
            "self_pay": (cost * Decimal(repr(rng.uniform(0.15, 0.35)))).quantize(CENT, ROUND_HALF_UP),
        }))
    return out


def _hospitals(count: int, rng: random.Random) -> list[tuple[str, Tier, float]]:
    plan = []
    for tier in TIERS:
        for _ in range(max(1, round(count * tier.share_of_hospitals))):
            plan.append((f"H{len(plan) + 1:03d}", tier, tier.cost_level * rng.uniform(0.9, 1.1)))
    return plan[:count] if len(plan) > count else plan


def _readmission(first: Case, number: int, rng: random.Random, year: int) -> Case:
    gap = timedelta(days=rng.randint(1, 30))
    stay = first.discharge_date - first.admission_date
    admitted = first.discharge_date + gap
    if admitted.year != year:       # keep the pair inside the year: the new stay comes first
        admitted = first.admission_date - gap - stay
    return first.model_copy(update={"id": f"S{number:07d}", "admission_date": admitted,
                                    "discharge_date": admitted + stay})
