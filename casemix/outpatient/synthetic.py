"""A synthetic outpatient year for a synthetic city (OUTPATIENT.md §8), sharing its hospitals and patients.

Residents get an age, sex, insurance (30 % employees 310, 70 % residents 390), chronic conditions that
rise with age (hypertension, diabetes, COPD, CKD) and a home primary institution (一级). Chronic
patients come back for follow-up (a share as 门诊慢病 med_type 140104); acute visits follow a profile
mix with respiratory visits × 1.8 in December–February and digestive ones × 1.3 in summer; primary
institutions take most visits, procedures go to 二级/三级 hospitals. Each profile bills realistic
lines: consultation, labs, imaging, procedures, drugs and consumables, with codes inside the real
national categories (15-digit 医疗服务项目 prefixes, 医保药品 and 耗材 classes) and 医保版 ICD-10
diagnoses, priced by hospital level with log-normal noise. Seeded: the same arguments give the same year.

Item codes are synthetic codes inside real national categories (``00`` + category + serial); they
classify by ``nhsa-code-classes`` but are not claimed to be real price items.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl

from casemix.outpatient.visits import LINE_SCHEMA, VISIT_SCHEMA
from casemix.records.case import Case

LEVEL_PRICE = {"三级": 1.3, "二级": 1.0, "一级": 0.75}
FUND_RATE = {
    ("310", "一级"): 0.85,
    ("310", "二级"): 0.75,
    ("310", "三级"): 0.65,
    ("390", "一级"): 0.65,
    ("390", "二级"): 0.55,
    ("390", "三级"): 0.45,
}
CONSULT, EMERGENCY_CONSULT = "001102000010000", "001102000030000"

# item: code → (base price ¥, quantity range)
ITEMS = {
    "cbc": ("002501010150000", 20, (1, 1)),
    "urine": ("002501010010000", 10, (1, 1)),
    "crp": ("002504030180000", 30, (1, 1)),
    "liver": ("002503010010000", 60, (1, 1)),
    "glucose": ("002503020010000", 8, (1, 1)),
    "hba1c": ("002503020030000", 60, (1, 1)),
    "creatinine": ("002503040010000", 15, (1, 1)),
    "xr": ("002101020150000", 60, (1, 1)),
    "ct": ("002103000010000", 250, (1, 1)),
    "mri": ("002102000010000", 600, (1, 1)),
    "us": ("002202010010000", 80, (1, 1)),
    "ecg": ("003107010010000", 25, (1, 1)),
    "spirometry": ("003106010010000", 90, (1, 1)),
    "colonoscopy": ("003109030040000", 300, (1, 1)),
    "polypectomy": ("003109030090000", 650, (1, 1)),
    "anaesthesia": ("003301000050000", 280, (1, 1)),
    "pathology": ("002703000010000", 160, (1, 1)),
    "excision": ("003316000010000", 180, (1, 1)),
    "suture": ("001205000010000", 90, (1, 1)),
    "dressing": ("001206000010000", 15, (1, 1)),
    "injection": ("001204000060000", 12, (1, 3)),
    "physio": ("003401000010000", 30, (1, 5)),
    "acupuncture": ("004300000010000", 35, (1, 5)),
    "tuina": ("004500000010000", 40, (1, 5)),
    "dialysis": ("003110000010000", 420, (1, 1)),
    "antibiotic": ("XJ01CAA001A001010100001", 25, (1, 2)),
    "cough": ("XR05CBA001A001010100002", 18, (1, 2)),
    "cpm_cold": ("ZA01AAA0001010100003", 22, (1, 2)),
    "ppi": ("XA02BCA001A001010100004", 35, (1, 2)),
    "nsaid": ("XM01AEA001A001010100005", 20, (1, 2)),
    "analgesic": ("XN02BEA001A001010100006", 12, (1, 1)),
    "skin": ("XD07ACA001A001010100007", 28, (1, 1)),
    "eye": ("XS01AAA001A001010100008", 20, (1, 1)),
    "ccb": ("XC08CAA001A001010100009", 45, (1, 3)),
    "metformin": ("XA10BAA001A001010100010", 30, (1, 3)),
    "inhaler": ("XR03AKA001A001010100011", 120, (1, 2)),
    "epo": ("XB03XAA001A001010100012", 260, (1, 2)),
    "antineoplastic": ("XL01XEA001A001010100013", 2400, (1, 1)),
    "herbs": ("T000100001", 60, (1, 1)),
    "clip": ("C020101052000001", 150, (1, 3)),
}
# profile: dx, weight, season, hospital levels allowed, [(item, probability)]
ACUTE = [
    (
        "J06.900",
        22,
        "winter",
        None,
        [
            ("cbc", 0.6),
            ("crp", 0.4),
            ("xr", 0.1),
            ("antibiotic", 0.45),
            ("cough", 0.7),
            ("cpm_cold", 0.4),
            ("injection", 0.1),
        ],
    ),
    ("J20.900", 6, "winter", None, [("cbc", 0.7), ("xr", 0.5), ("antibiotic", 0.7), ("cough", 0.8)]),
    ("K29.700", 8, "summer", None, [("ppi", 0.9), ("us", 0.2), ("cbc", 0.3)]),
    ("A09.900", 3, "summer", None, [("cbc", 0.6), ("antibiotic", 0.4), ("injection", 0.3)]),
    ("M54.500", 7, "", None, [("nsaid", 0.8), ("physio", 0.4), ("acupuncture", 0.3), ("xr", 0.2), ("mri", 0.04)]),
    ("M17.900", 4, "", None, [("nsaid", 0.7), ("xr", 0.3), ("tuina", 0.3), ("herbs", 0.2)]),
    ("L30.900", 4, "", None, [("skin", 0.9)]),
    ("R51.x00", 3, "", None, [("analgesic", 0.8), ("ct", 0.15)]),
    ("S61.000", 3, "", None, [("suture", 1), ("dressing", 0.8), ("injection", 0.3), ("antibiotic", 0.4)]),
    ("H10.900", 2, "", None, [("eye", 0.95)]),
    ("N39.000", 3, "", None, [("urine", 0.9), ("antibiotic", 0.8)]),
    ("Z00.000", 3, "", None, [("cbc", 0.9), ("liver", 0.8), ("glucose", 0.8), ("us", 0.7), ("xr", 0.6), ("ecg", 0.5)]),
    (
        "K63.500",
        0.7,
        "",
        ("二级", "三级"),
        [
            ("colonoscopy", 1),
            ("polypectomy", 0.8),
            ("anaesthesia", 0.7),
            ("pathology", 0.8),
            ("clip", 0.5),
            ("ppi", 0.3),
        ],
    ),
    ("L72.100", 0.7, "", ("二级", "三级"), [("excision", 1), ("suture", 0.5), ("dressing", 0.8), ("pathology", 0.5)]),
    ("C34.900", 0.5, "", ("三级",), [("antineoplastic", 0.6), ("cbc", 0.9), ("ct", 0.4), ("liver", 0.5)]),
]
CHRONIC = {
    "hypertension": ("I10.x00", [("ccb", 0.95), ("ecg", 0.15), ("creatinine", 0.15)]),
    "diabetes": ("E11.900", [("metformin", 0.95), ("glucose", 0.7), ("hba1c", 0.25)]),
    "copd": ("J44.900", [("inhaler", 0.9), ("spirometry", 0.1), ("xr", 0.1)]),
    "ckd": ("N18.300", [("creatinine", 0.8), ("epo", 0.4), ("dialysis", 0.08)]),
}
# prevalence by age band: (min age, {condition: probability})
PREVALENCE = [
    (0, {}),
    (18, {"hypertension": 0.05, "diabetes": 0.02, "copd": 0.01, "ckd": 0.005}),
    (45, {"hypertension": 0.2, "diabetes": 0.08, "copd": 0.03, "ckd": 0.02}),
    (60, {"hypertension": 0.45, "diabetes": 0.18, "copd": 0.1, "ckd": 0.06}),
]
AGES = [(0, 6, 6), (6, 18, 12), (18, 45, 36), (45, 60, 24), (60, 75, 15), (75, 95, 7)]
WINTER, SUMMER = (12, 1, 2), (6, 7, 8)


@dataclass(frozen=True)
class OutpatientYear:
    """A synthetic year: visit headers, fee lines and the residents behind them (the generator's truth)."""

    visits: pl.DataFrame
    lines: pl.DataFrame
    residents: pl.DataFrame


def hospitals_of(cases: list[Case]) -> list[tuple[str, str]]:
    """(hospital_id, level) of an inpatient city, so both settings share their hospitals."""
    return sorted({(c.hospital_id, c.hospital_level or "二级") for c in cases if c.hospital_id})


def synthetic_outpatient_year(
    hospitals: list[tuple[str, str]],
    visits: int = 100_000,
    year: int = 2025,
    seed: int = 2026,
    patient_ids: list[str] | None = None,
) -> OutpatientYear:
    """``visits`` outpatient visits at ``hospitals`` [(id, level)] in ``year``; the first residents take
    ``patient_ids`` (an inpatient city's patients), the rest are new."""
    rng = random.Random(seed)
    city = _city(hospitals, visits, rng, patient_ids or [])
    heads, lines = _visits(city, range(visits), year, rng)
    return OutpatientYear(heads, lines, city.resident_frame())


def write_synthetic_outpatient_parts(
    hospitals: list[tuple[str, str]],
    folder: str | Path,
    visits: int,
    part_size: int = 500_000,
    year: int = 2025,
    seed: int = 2026,
) -> list[tuple[Path, Path]]:
    """A year too large for memory written part by part: ``visits-NNN.parquet`` and ``lines-NNN.parquet`` of
    at most ``part_size`` visits each and ``residents.parquet``; returns the (visits, lines) path pairs.

    One city (residents drawn for the whole year) and one visit numbering; part 0 continues the residents'
    random stream, so a year of one part is :func:`synthetic_outpatient_year`'s; later parts draw from
    their own seeded stream. Memory holds the residents and one part.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    city = _city(hospitals, visits, rng, [])
    city.resident_frame().write_parquet(folder / "residents.parquet")
    paths = []
    for part, start in enumerate(range(0, visits, part_size)):
        part_rng = rng if part == 0 else random.Random(f"{seed}-{part}")
        heads, lines = _visits(city, range(start, min(start + part_size, visits)), year, part_rng)
        pair = (folder / f"visits-{part:03d}.parquet", folder / f"lines-{part:03d}.parquet")
        heads.write_parquet(pair[0])
        lines.write_parquet(pair[1])
        paths.append(pair)
    return paths


@dataclass(frozen=True)
class _City:
    """What every visit of a synthetic year draws from: residents (and their visit weights) and hospitals."""

    residents: list[dict]
    weights: list[int]
    by_level: dict[str, list[str]]
    level_of: dict[str, str]

    def resident_frame(self) -> pl.DataFrame:
        residents = self.residents
        return pl.DataFrame(
            {
                "patient_id": [r["id"] for r in residents],
                "age": [r["age"] for r in residents],
                "sex": [r["sex"] for r in residents],
                "insurance": [r["insurance"] for r in residents],
                "home_institution": [r["home"] for r in residents],
                "conditions": ["|".join(r["conditions"]) for r in residents],
            }
        )


def _city(hospitals: list[tuple[str, str]], visits: int, rng: random.Random, patient_ids: list[str]) -> _City:
    by_level = {level: [h for h, lv in hospitals if lv == level] for level in LEVEL_PRICE}
    primary = by_level["一级"] or [h for h, _ in hospitals]
    residents = _residents(max(visits // 5, 1), rng, primary, patient_ids)
    weights = list(itertools.accumulate(1 + 3 * len(r["conditions"]) for r in residents))
    return _City(residents, weights, by_level, dict(hospitals))


def _visits(city: _City, numbers: range, year: int, rng: random.Random) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Visit headers and fee lines of the visits numbered ``numbers``."""
    residents, weights, by_level, level_of = city.residents, city.weights, city.by_level, city.level_of
    heads: dict[str, list] = {c: [] for c in VISIT_SCHEMA}
    lines: dict[str, list] = {c: [] for c in LINE_SCHEMA}
    month_days = _month_days(year)
    for number in numbers:
        person = residents[bisect.bisect_right(weights, rng.random() * weights[-1])]
        month = rng.randint(1, 12)
        dx, items, med_type, allowed = _profile(person, month, rng)
        hospital = _hospital(person, allowed, by_level, rng, follow_up=med_type != "11" or dx in _CHRONIC_DX)
        if med_type == "11" and level_of[hospital] != "一级" and dx in ("J06.900", "S61.000") and rng.random() < 0.15:
            med_type = "13"
        visit_id = f"OV{year}{number:08d}"
        amounts = _bill(visit_id, items, level_of[hospital], med_type, rng, lines)
        total = sum(amounts, Decimal(0))
        fund = (total * Decimal(repr(FUND_RATE[(person["insurance"], level_of[hospital])]))).quantize(Decimal("0.01"))
        visit_day = date(year, month, 1) + timedelta(days=rng.randrange(month_days[month]))
        for column, value in (
            ("visit_id", visit_id),
            ("patient_id", person["id"]),
            ("hospital_id", hospital),
            ("hospital_level", level_of[hospital]),
            ("visit_date", visit_day),
            ("med_type", med_type),
            ("insurance", person["insurance"]),
            ("principal_dx", dx),
            ("diagnoses", dx),
            ("sex", person["sex"]),
            ("age", person["age"]),
            ("total_cost", total),
            ("fund_paid", fund),
            ("self_pay", total - fund),
        ):
            heads[column].append(value)
    return pl.DataFrame(heads, schema=VISIT_SCHEMA), pl.DataFrame(lines, schema=LINE_SCHEMA)


_CHRONIC_DX = {dx for dx, _ in CHRONIC.values()}


def _month_days(year: int) -> dict[int, int]:
    return {m: ((date(year + (m == 12), m % 12 + 1, 1)) - date(year, m, 1)).days for m in range(1, 13)}


def _residents(count: int, rng: random.Random, primary: list[str], known: list[str]) -> list[dict]:
    out = []
    age_weights = list(itertools.accumulate(w for _, _, w in AGES))
    for number in range(count):
        low, high, _ = AGES[bisect.bisect_right(age_weights, rng.random() * age_weights[-1])]
        age = rng.randrange(low, high)
        prevalence = next(p for lower, p in reversed(PREVALENCE) if age >= lower)
        conditions = sorted(c for c, p in prevalence.items() if rng.random() < p)
        out.append(
            {
                "id": known[number] if number < len(known) else f"R{number:08d}",
                "age": age,
                "sex": rng.choice((1, 2)),
                "insurance": "310" if 18 <= age < 65 and rng.random() < 0.45 else "390",
                "home": rng.choice(primary),
                "conditions": conditions,
            }
        )
    return out


def _profile(person: dict, month: int, rng: random.Random) -> tuple[str, list, str, tuple | None]:
    if person["conditions"] and rng.random() < 0.55:
        dx, items = CHRONIC[rng.choice(person["conditions"])]
        return dx, items, "140104" if rng.random() < 0.3 else "11", None
    weights = [
        w * (1.8 if season == "winter" and month in WINTER else 1.3 if season == "summer" and month in SUMMER else 1.0)
        for _, w, season, _, _ in ACUTE
    ]
    dx, _, _, allowed, items = rng.choices(ACUTE, weights)[0]
    return dx, items, "11", allowed


def _hospital(person: dict, allowed: tuple | None, by_level: dict, rng: random.Random, follow_up: bool) -> str:
    if allowed is None and rng.random() < (0.7 if follow_up else 0.55):
        return person["home"]
    levels = [lv for lv in (allowed or ("二级", "三级")) if by_level[lv]] or [lv for lv in by_level if by_level[lv]]
    return rng.choice(by_level[rng.choice(levels)])


def _bill(visit_id: str, items: list, level: str, med_type: str, rng: random.Random, lines: dict) -> list[Decimal]:
    billed = [(EMERGENCY_CONSULT if med_type == "13" else CONSULT, 15, (1, 1))]
    billed += [ITEMS[name] for name, probability in items if rng.random() < probability]
    amounts = []
    for number, (code, price, (low, high)) in enumerate(billed, 1):
        quantity = rng.randint(low, high)
        amount = Decimal(repr(round(price * LEVEL_PRICE[level] * rng.lognormvariate(0, 0.25) * quantity, 2)))
        for column, value in (
            ("visit_id", visit_id),
            ("line_no", number),
            ("line_id", f"{visit_id}-{number}"),
            ("code", code),
            ("quantity", float(quantity)),
            ("amount", amount),
            ("procedure_code", None),
        ):
            lines[column].append(value)
        amounts.append(amount)
    return amounts
