"""A synthetic pooling area (统筹区) built from real cases, for the demo, simulations and benchmarks.

Hospitals come in three tiers (三级/二级/一级) with different volumes and cost levels. Each stay
resamples a real de-identified case (its codes, age, sex, length of stay, discharge mode and cost),
then takes the hospital's cost level and some noise; patients recur, and a share of stays are
readmissions of the same patient, mostly within a month.

A readmission is a new stay, not a copy: it resamples a real case, so it brings its own length of
stay and cost, and a share of patients return to another hospital. What it resamples depends on the
patient (``READMISSION_SHARES`` [M]): a cancer patient mostly comes back for a planned session
(chemotherapy or radiotherapy, Z51.0/Z51.1/Z51.8); after an operation some come back with a
complication of it (T81–T85, K91) or an infection caught in hospital (J18, N39, A41, I26, I80), and
some for a staged second operation in the same category; a medical patient now and then with such
an infection; the rest for the same condition (the first stay's category, half of those keeping its
principal) or another of its chapter. The patient keeps their chronic conditions (``CHRONIC_BLOCKS``,
ICD-10 categories after the Elixhauser and Charlson comorbidity codes): the first stay's chronic
diagnoses are carried into the readmission's secondaries (each now and then left uncoded), the
resampled stranger's chronic ones mostly dropped (now and then one kept, as newly found), and the
stranger's acute secondaries kept as this episode's.

Each stay carries its settlement-list charge categories (``Case.fees``: 床位费, 诊察费, 护理费 by the
day at the hospital tier's rates; 手术费 and 卫生材料费 when a stay has an operation, ICD-9-CM-3
01–86; the rest over exams, labs, treatment and drugs with random shares), adding up exactly to the
total cost. The rates and shares are illustrative [M], chosen so that categories vary by tier,
length of stay and surgical or medical stay the way settlement lists do. ``synthetic_fee_lines``
itemises those categories into fee lines (NHSA ``fee_list_d``) over the days of the stay.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import accumulate
from pathlib import Path

import polars as pl

from casemix.errors import InputError
from casemix.records.case import CENT, Case
from casemix.records.columnar import write_csv_chunks
from casemix.records.fees import FeeClassifier, FeeLine
from casemix.records.io import CASE_FILE_COLUMNS, write_cases


@dataclass(frozen=True)
class Tier:
    level: str
    share_of_hospitals: float
    volume: float           # relative cases per hospital
    cost_level: float       # multiplies the real case's cost
    bed_per_day: int        # 床位费 元/day [M]
    nursing_per_day: int    # 护理费 元/day [M]


TIERS = (Tier("三级", 0.1, 8.0, 1.25, 90, 45), Tier("二级", 0.3, 3.0, 1.0, 55, 30),
         Tier("一级", 0.6, 1.0, 0.8, 35, 20))
CONSULTATION_PER_DAY = 15                           # 诊察费 元/day [M]
READMITTED_ELSEWHERE = 0.3                          # share of readmissions at another hospital [M]
# Why a patient comes back [M: illustrative shares; cancer patients' readmissions are mostly planned
# cycles, a few in ten surgical readmissions are complications of the operation]. Each applies where it
# fits (planned: the patient has a malignancy; postoperative and staged: the first stay had an
# operation); what is left is the same condition or another of its chapter.
READMISSION_SHARES = {"planned": 0.7, "postoperative": 0.15, "staged": 0.1, "acquired": 0.08}
PLANNED_PRINCIPALS = ("Z51.0", "Z51.1", "Z51.8")   # radiotherapy, chemotherapy, other planned sessions
POSTOPERATIVE_CATEGORIES = ("T81", "T82", "T83", "T84", "T85", "K91")     # complications of procedures
ACQUIRED_CATEGORIES = ("J18", "N39", "A41", "I26", "I80")  # pneumonia, UTI, sepsis, embolism, thrombosis
# Chronic conditions a patient carries from stay to stay, as ICD-10 category ranges [M: after the
# Elixhauser comorbidity codes in ICD-10 (Quan et al., Med Care 2005;43:1130) and the Charlson ones,
# with lipid disorders, gout, osteoporosis and the lasting status codes (history of cancer, implants,
# transplants, absent organs, dialysis) added; acute conditions (electrolytes, anaemia of blood loss,
# acute infarction) left out].
CHRONIC_BLOCKS = (
    ("B18", "B18"), ("B20", "B24"), ("C00", "C97"), ("E03", "E03"), ("E10", "E14"), ("E66", "E66"),
    ("E78", "E78"), ("F00", "F03"), ("F20", "F20"), ("F32", "F33"), ("G20", "G20"), ("G30", "G30"),
    ("G40", "G40"), ("G81", "G82"), ("I05", "I08"), ("I10", "I15"), ("I20", "I20"), ("I25", "I25"),
    ("I27", "I27"), ("I34", "I37"), ("I42", "I43"), ("I48", "I48"), ("I50", "I50"), ("I69", "I70"),
    ("J40", "J47"), ("K70", "K70"), ("K73", "K74"), ("K76", "K76"), ("M05", "M06"), ("M10", "M10"),
    ("M81", "M81"), ("N18", "N19"), ("Z85", "Z86"), ("Z90", "Z90"), ("Z94", "Z96"), ("Z99", "Z99"))
CHRONIC_CODED = 0.9         # a chronic condition coded again on the readmission [M]
CHRONIC_FOUND = 0.1         # a stranger's chronic condition kept, as newly found [M]
# the shares of what is left after the daily charges, as (low, high) ranges [M]
MEDICAL_SHARES = {"examination": (0.08, 0.2), "laboratory": (0.1, 0.22), "treatment": (0.05, 0.15),
                  "western_drugs": (0.25, 0.45), "patent_chinese_drugs": (0.0, 0.06), "materials": (0.02, 0.08)}
SURGICAL_SHARES = {"examination": (0.06, 0.14), "laboratory": (0.06, 0.14), "treatment": (0.03, 0.1),
                   "western_drugs": (0.12, 0.25), "patent_chinese_drugs": (0.0, 0.03), "materials": (0.15, 0.35),
                   "surgery": (0.12, 0.25)}


def synthetic_city(sample: list[Case], hospitals: int = 100, cases: int = 100_000, year: int = 2025,
                   readmission_share: float = 0.03, seed: int = 2025, patients: int | None = None) -> list[Case]:
    """``cases`` stays over ``hospitals`` hospitals, resampled from ``sample`` (cases with a cost);
    ``patients`` distinct patients (default 0.8 × cases, so some return by chance)."""
    return [stay.case() for stay in synthetic_stays(sample, hospitals, cases, year, readmission_share, seed, patients)]


@dataclass(frozen=True, slots=True)
class Stay:
    """One synthetic stay: the real case it resamples (a readmission's changes made) and what the city gives it."""

    real: Case
    id: str
    hospital_id: str
    hospital_level: str
    patient_id: str
    admission_date: date
    discharge_date: date
    total_cost: Decimal
    self_pay: Decimal
    fees: dict[str, Decimal]

    def case(self) -> Case:
        return self.real.model_copy(update={
            "id": self.id, "hospital_id": self.hospital_id, "hospital_level": self.hospital_level,
            "patient_id": self.patient_id, "admission_date": self.admission_date,
            "discharge_date": self.discharge_date, "total_cost": self.total_cost, "self_pay": self.self_pay,
            "fees": self.fees})


@dataclass(frozen=True, slots=True)
class _Brief:
    """What a later stay reads of an earlier one: readmission and the patient's days in hospital."""

    principal_dx: str
    sex: int | None
    age: int | None
    age_days: int | None
    hospital_id: str
    patient_id: str
    admission_date: date
    discharge_date: date
    chronic: tuple[str, ...]        # the patient's chronic conditions coded on this stay
    surgical: bool


def synthetic_stays(sample: list[Case], hospitals: int = 100, cases: int = 100_000, year: int = 2025,
                    readmission_share: float = 0.03, seed: int = 2025, patients: int | None = None) -> Iterator[Stay]:
    """The stays of :func:`synthetic_city` one at a time, keeping only a brief of each earlier stay, so a
    city of millions is written without holding its cases."""
    rng = random.Random(seed)
    pool = [c for c in sample if c.total_cost]
    if not pool:
        raise InputError("the sample has no case with a cost to resample")
    plan = _hospitals(hospitals, rng)
    cumulative = list(accumulate(tier.volume for _, tier, _ in plan))       # choices(weights=…) draws alike
    by_hospital = {hospital_id: (tier, level) for hospital_id, tier, level in plan}
    reasons = _Reasons.of(pool)
    start = date(year, 1, 1)
    out: list[_Brief] = []
    stays_of: dict[str, list[int]] = {}         # patient → indexes of their stays in ``out``
    patients = patients or int(cases * 0.8) + 1
    for number in range(cases):
        stay = None
        if out and rng.random() < readmission_share:
            first = out[rng.randrange(len(out))]
            hospital_id = (rng.choices(plan, cum_weights=cumulative)[0][0] if rng.random() < READMITTED_ELSEWHERE
                           else first.hospital_id)
            real = reasons.readmitted(first, rng)
            tier, level = by_hospital[hospital_id]
            admitted = _readmission_date(first, real, rng, year)
            if _free(out, stays_of.get(first.patient_id, ()), admitted, real.los_days or 7):
                stay = _stay(real, f"S{number:07d}", hospital_id, tier, level, first.patient_id, admitted, rng)
        if stay is None:
            hospital_id, tier, level = rng.choices(plan, cum_weights=cumulative)[0]
            real = rng.choice(pool)
            admitted = start + timedelta(days=rng.randrange(365))
            patient = _free_patient(out, stays_of, admitted, real.los_days or 7, patients, rng)
            stay = _stay(real, f"S{number:07d}", hospital_id, tier, level, patient, admitted, rng)
        chronic, surgical = reasons.facts(stay.real)
        out.append(_Brief(stay.real.principal_dx, stay.real.sex, stay.real.age, stay.real.age_days, stay.hospital_id,
                          stay.patient_id, stay.admission_date, stay.discharge_date, chronic, surgical))
        stays_of.setdefault(stay.patient_id, []).append(len(out) - 1)
        yield stay


CITY_CHUNK = 100_000     # stays turned into one text frame at a time
_STAY_FIELDS = ("id", "hospital_id", "hospital_level", "patient_id", "admission_date", "discharge_date",
                "total_cost", "self_pay")


def write_synthetic_city(path: str | Path, sample: list[Case], hospitals: int = 100, cases: int = 100_000,
                         year: int = 2025, seed: int = 2025,
                         progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """The file ``write_cases(path, synthetic_city(sample, …))`` writes, byte for byte, without a Case per stay
    (CSV in text columns; .xlsx and .parquet through write_cases); gives (stays, hospitals) written.
    ``progress`` is told (stays made, stays in all) as the stays are made."""
    path = Path(path)
    stays = _told(synthetic_stays(sample, hospitals, cases, year, seed=seed), cases, progress)
    if path.suffix.lower() in (".xlsx", ".parquet"):
        made = [stay.case() for stay in stays]
        write_cases(path, made)
        return len(made), len({c.hospital_id for c in made})
    fee_keys = sorted({*DAILY_KEYS, *MEDICAL_SHARES, *SURGICAL_SHARES})
    columns = CASE_FILE_COLUMNS + [f"fee_{key}" for key in fee_keys]
    templates = {id(case): _case_texts(case, len(fee_keys)) for case in sample}
    places = [CASE_FILE_COLUMNS.index(name) for name in _STAY_FIELDS]
    seen: set[str] = set()
    hospital_ids: set[str] = set()
    frames, rows = [], []
    for stay in stays:
        row = list(templates.get(id(stay.real)) or _case_texts(stay.real, len(fee_keys)))
        for place, value in zip(places, (stay.id, stay.hospital_id, stay.hospital_level, stay.patient_id,
                                         stay.admission_date, stay.discharge_date, stay.total_cost, stay.self_pay)):
            row[place] = str(value)
        fees = stay.fees
        row[len(CASE_FILE_COLUMNS):] = [str(fees[key]) if key in fees else "" for key in fee_keys]
        seen.update(fees)
        hospital_ids.add(stay.hospital_id)
        rows.append(row)
        if len(rows) == CITY_CHUNK:
            frames.append(pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String), orient="row"))
            rows = []
    frames.append(pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String), orient="row"))
    kept = CASE_FILE_COLUMNS + [f"fee_{key}" for key in fee_keys if key in seen]    # as write_cases: fees present
    write_csv_chunks((frame.select(kept) for frame in frames), kept, path)
    return sum(frame.height for frame in frames), len(hospital_ids)


def _told(stays: Iterator[Stay], total: int, progress: Callable[[int, int], None] | None,
          every: int = 10_000) -> Iterator[Stay]:
    """``stays`` as they come, telling ``progress`` each ``every`` and at the end."""
    done = 0
    for done, stay in enumerate(stays, 1):
        if progress and done % every == 0:
            progress(done, total)
        yield stay
    if progress:
        progress(done, total)


def _case_texts(case: Case, fee_count: int) -> tuple[str, ...]:
    """The cells ``write_cases`` writes for ``case`` (fees left blank)."""
    def text(value: object) -> str:
        if value is None:
            return ""
        return ",".join(value) if isinstance(value, tuple) else str(value)
    return tuple(text(getattr(case, column)) for column in CASE_FILE_COLUMNS) + ("",) * fee_count


def _free_patient(out: list[_Brief], stays_of: dict[str, list[int]], admitted: date, los: int, patients: int,
                  rng: random.Random) -> str:
    """A patient not in hospital on these days: nobody is in two wards at once."""
    for _ in range(20):
        patient = f"P{rng.randrange(patients):07d}"
        if _free(out, stays_of.get(patient, ()), admitted, los):
            return patient
    return patient


def _free(out: list[_Brief], indexes, admitted: date, los: int) -> bool:
    """Whether a stay from ``admitted`` for ``los`` days overlaps none of the stays at ``indexes``."""
    ends = admitted + timedelta(days=los)
    return all(out[i].discharge_date <= admitted or ends <= out[i].admission_date for i in indexes)


def _stay(real: Case, case_id: str, hospital_id: str, tier: Tier, level: float, patient_id: str,
          admitted: date, rng: random.Random) -> Stay:
    """``real`` resampled as a stay at ``hospital_id``: its cost at the hospital's level with noise, and its fees."""
    los = real.los_days if real.los_days is not None else 7
    cost = (real.total_cost * Decimal(repr(level * rng.lognormvariate(0, 0.1)))).quantize(CENT, ROUND_HALF_UP)
    self_pay = (cost * Decimal(repr(rng.uniform(0.15, 0.35)))).quantize(CENT, ROUND_HALF_UP)
    return Stay(real, case_id, hospital_id, tier.level, patient_id, admitted, admitted + timedelta(days=los), cost,
                self_pay, synthetic_fees(cost, los, tier, is_surgical(real.procedures), rng))


def is_surgical(procedures: tuple[str, ...]) -> bool:
    """Whether any code is an operation: ICD-9-CM-3 chapters 01–86 (87–99 are diagnostic and other procedures)."""
    return any(code[:2].isdigit() and int(code[:2]) < 87 for code in procedures)


def synthetic_fees(cost: Decimal, los: int, tier: Tier, surgical: bool, rng: random.Random) -> dict[str, Decimal]:
    """Charge categories adding up exactly to ``cost``: daily charges at the tier's rates, the rest by share."""
    days = max(los, 1)
    daily = {"bed": tier.bed_per_day * days, "nursing": tier.nursing_per_day * days,
             "consultation": CONSULTATION_PER_DAY * days}
    scale = min(1.0, 0.5 * float(cost) / sum(daily.values()))       # daily charges at most half the bill
    fees = {key: (Decimal(value * scale * rng.uniform(0.9, 1.1))).quantize(CENT, ROUND_HALF_UP)
            for key, value in daily.items()}
    rest = cost - sum(fees.values(), Decimal(0))
    draws = {key: rng.uniform(low, high) for key, (low, high) in (SURGICAL_SHARES if surgical
                                                                  else MEDICAL_SHARES).items()}
    total = sum(draws.values())
    for key, draw in draws.items():
        fees[key] = (rest * Decimal(repr(draw / total))).quantize(CENT, ROUND_HALF_UP)
    fees["western_drugs"] += cost - sum(fees.values(), Decimal(0))       # the rounding cents
    return fees


def chronic_conditions(codes: Iterable[str]) -> tuple[str, ...]:
    """The codes among ``codes`` that name a chronic condition (``CHRONIC_BLOCKS``), in their order."""
    return tuple(code for code in codes if _chronic_category(code[:3]))


def _chronic_category(category: str) -> bool:
    return any(low <= category <= high for low, high in CHRONIC_BLOCKS)


@dataclass(frozen=True)
class _Reasons:
    """The real cases a readmission resamples, by why the patient comes back, and each real case's
    chronic conditions and whether it had an operation, worked out once."""

    similar: dict[str, list[Case]]          # by principal category (3 characters) and by chapter letter
    planned: list[Case]
    postoperative: list[Case]
    acquired: list[Case]
    known: dict[int, tuple[tuple[str, ...], bool]]     # id(real case) → (chronic conditions, surgical)

    @classmethod
    def of(cls, pool: list[Case]) -> _Reasons:
        similar: dict[str, list[Case]] = {}
        for case in pool:
            similar.setdefault(case.principal_dx[:3], []).append(case)
            similar.setdefault(case.principal_dx[:1], []).append(case)
        return cls(similar, [c for c in pool if c.principal_dx.startswith(PLANNED_PRINCIPALS)],
                   [c for c in pool if c.principal_dx[:3] in POSTOPERATIVE_CATEGORIES],
                   [c for c in pool if c.principal_dx[:3] in ACQUIRED_CATEGORIES],
                   {id(c): cls._facts(c) for c in pool})

    @staticmethod
    def _facts(case: Case) -> tuple[tuple[str, ...], bool]:
        return chronic_conditions((case.principal_dx, *case.secondary_dx)), is_surgical(case.procedures)

    def facts(self, real: Case) -> tuple[tuple[str, ...], bool]:
        """The chronic conditions coded on ``real`` (its principal among them) and whether it had an operation."""
        return self.known.get(id(real)) or self._facts(real)

    def readmitted(self, first: _Brief, rng: random.Random) -> Case:
        """A real case for a readmission after ``first`` (``READMISSION_SHARES``), as the patient: their
        sex and age, their chronic conditions carried into its secondaries."""
        cancer = any(code.startswith("C") for code in first.chronic)
        real = None
        if cancer and self.planned and rng.random() < READMISSION_SHARES["planned"]:
            real = rng.choice(self.planned)
        elif first.surgical and self.postoperative and rng.random() < READMISSION_SHARES["postoperative"]:
            real = rng.choice(self.postoperative + self.acquired)
        elif first.surgical and rng.random() < READMISSION_SHARES["staged"]:
            operated = [c for c in self.similar.get(first.principal_dx[:3], ()) if self.facts(c)[1]]
            real = rng.choice(operated) if operated else None
        elif self.acquired and rng.random() < READMISSION_SHARES["acquired"]:
            real = rng.choice(self.acquired)
        if real is None:
            real = self._same_condition(first, rng)
        return real.model_copy(update={"sex": first.sex, "age": first.age, "age_days": first.age_days,
                                       "secondary_dx": self._secondaries(first, real, rng)})

    def _same_condition(self, first: _Brief, rng: random.Random) -> Case:
        """Same category (half of those keep the principal), else same chapter."""
        similar = self.similar
        if rng.random() < 0.6:
            real = rng.choice(similar.get(first.principal_dx[:3]) or similar[first.principal_dx[:1]])
            if rng.random() < 0.5:
                real = real.model_copy(update={"principal_dx": first.principal_dx})
            return real
        return rng.choice(similar.get(first.principal_dx[:1]) or similar[first.principal_dx[:3]])

    def _secondaries(self, first: _Brief, real: Case, rng: random.Random) -> tuple[str, ...]:
        """The episode's own (acute) secondaries, then the patient's chronic conditions (``CHRONIC_CODED``)
        and now and then one of the stranger's as newly found (``CHRONIC_FOUND``); the principal not again."""
        theirs = set(chronic_conditions(real.secondary_dx))
        codes = [code for code in real.secondary_dx if code not in theirs]
        codes += [code for code in first.chronic if rng.random() < CHRONIC_CODED]
        codes += [code for code in real.secondary_dx if code in theirs and rng.random() < CHRONIC_FOUND]
        return tuple(dict.fromkeys(code for code in codes if code != real.principal_dx))


def _readmission_date(first: _Brief, real: Case, rng: random.Random, year: int) -> date:
    """Most readmissions come within a month, a few later; the pair stays inside the year."""
    gap = timedelta(days=min(90, 1 + int(rng.expovariate(1 / 12))))
    admitted = first.discharge_date + gap
    if admitted.year != year:       # the new stay comes first instead
        admitted = first.admission_date - gap - timedelta(days=real.los_days or 7)
    return admitted


def _hospitals(count: int, rng: random.Random) -> list[tuple[str, Tier, float]]:
    plan = []
    for tier in TIERS:
        for _ in range(max(1, round(count * tier.share_of_hospitals))):
            plan.append((f"H{len(plan) + 1:03d}", tier, tier.cost_level * rng.uniform(0.9, 1.1)))
    return plan[:count] if len(plan) > count else plan



# ---- itemised fee lines --------------------------------------------------------------------------

DAILY_KEYS = ("bed", "nursing", "consultation")     # one line a day
ONE_DAY_KEYS = ("surgery", "materials")             # on the day of the operation
FRONT_KEYS = ("examination", "laboratory")          # mostly in the first days
LINE_SIZE = {"examination": 150, "laboratory": 60, "treatment": 100, "surgery": 800, "materials": 400}   # 元 [M]


def fee_code_pools(classifier: FeeClassifier, rule_folder: Path | None = None) -> dict[str, list[str]]:
    """Item codes by settlement-list category key: the national class prefixes padded to full codes,
    and the real codes of the 两库 sheets in ``rule_folder`` that any patient may be given (packages,
    procedure groups, frequency, cycle and course limits; not the sex, age, insurance, visit-type or
    hospital-level ones), each kept only where the classifier puts it in that category, so that fee
    lines add up to the settlement list's charges."""
    candidates: set[str] = set()
    for table in ("service", "drug", "consumable"):
        width = {"service": 15, "drug": 20, "consumable": 15}[table]
        candidates.update((prefix + "0" * width)[:width] for prefix in classifier.prefixes(table))
    if rule_folder is not None:
        for path in sorted(rule_folder.glob("b[2678]_*.csv")):
            with path.open(encoding="utf-8-sig", newline="") as f:
                for row in csv.DictReader(f):
                    candidates.update(v.strip() for k, v in row.items() if k and "码" in k and v and v.strip())
    pools: dict[str, list[str]] = {}
    for code in sorted(candidates):
        found = classifier.of_code(code.upper())
        if found is not None:
            pools.setdefault(found.category_key, []).append(code)
    return pools


def synthetic_fee_lines(case: Case, pools: dict[str, list[str]], rng: random.Random,
                        categories: tuple[str, ...] | None = None) -> list[FeeLine]:
    """The stay's fee categories as itemised lines over its days: bed, nursing and consultation daily,
    exams and labs mostly in the first two days, the operation and its materials on one day (each
    operation named by surgery lines, oprn_oprt_code), drugs daily and tapering; each category's lines
    add up to its total to the cent. ``categories`` keeps only those categories' lines (the theatre
    lines alone, say, when a 60,000-stay city's full bills would not fit in memory)."""
    days = max(case.los_days or 1, 1)
    start = datetime.combine(case.admission_date or date(2025, 1, 1), datetime.min.time())
    operations = [code for code in case.procedures if is_surgical((code,))] or [None]
    lines: list[FeeLine] = []
    for key, total in sorted((case.fees or {}).items()):
        pool = pools.get(key)
        if not pool or total <= 0 or (categories is not None and key not in categories):
            continue
        at_least = len(operations) if key == "surgery" else 1        # a surgery line for every operation
        for number, (day, amount) in enumerate(_spread(key, total, days, rng, at_least)):
            code = rng.choice(pool)
            lines.append(FeeLine(line_id=f"{case.id}-{len(lines) + 1:04d}", visit_id=case.id,
                                 patient_id=case.patient_id, hospital_id=case.hospital_id, item_code=code,
                                 amount=amount, price=amount,
                                 procedure_code=operations[number % len(operations)] if key == "surgery" else None,
                                 time=start + timedelta(days=day, hours=rng.randint(7, 20)),
                                 department=case.department))
    return _treated(case, lines, pools, random.Random(f"{case.id}:{lines[0].amount}") if lines else rng)


# ---- the drugs follow the diagnoses --------------------------------------------------------------
# A stay's drug lines are mostly for its conditions: each diagnosis's clinical class (ICD-10 chapter, a
# few split by block) is treated with drugs of a few 医保药品 classes; the other lines are ward drugs
# (fluids, electrolytes, vitamins, acid suppressants, analgesics) with a little noise from any class.
# A genuine diagnosis goes untreated on the bill now and then (TREATMENT_GAP), as real bills have
# gaps. Illustrative [M]: written for the synthetic city from its own chapter list, apart from the
# audit's support table (casemix/audit/severity_support.csv), which it does not read.
TREATED_WITH: dict[str, tuple[str, ...]] = {
    "A": ("XJ01", "XJ04", "XA07"), "B": ("XJ02", "XJ05", "XP01"), "C": ("XL01", "XL02", "XL03"),
    "D0": ("XL01",), "D1": ("XL01",), "D2": ("XL01",), "D3": ("XL01",), "D4": ("XL01",),
    "D5": ("XB03", "XB05"), "D6": ("XB02", "XB03", "XB06"), "D7": ("XB03", "XH02"), "D8": ("XL04", "XJ06"),
    "E": ("XA10", "XH03", "XA12", "XC10"), "F": ("XN05", "XN06"), "G": ("XN03", "XN04", "XN07"),
    "H0": ("XS01",), "H1": ("XS01",), "H2": ("XS01",), "H3": ("XS01",), "H4": ("XS01",), "H5": ("XS01",),
    "H6": ("XS02", "XR01"), "H7": ("XS02",), "H8": ("XS02", "XN07"), "H9": ("XS02",),
    "I": ("XC01", "XC02", "XC03", "XC07", "XC08", "XC09", "XB01"), "J": ("XJ01", "XR03", "XR05", "XR07"),
    "K": ("XA02", "XA03", "XA05", "XA07", "XA06"), "L": ("XD06", "XD07", "XR06"),
    "M": ("XM01", "XM04", "XM05", "XM03"), "N": ("XG04", "XC03", "XB03"), "O": ("XG02", "XG03", "XB02"),
    "P": ("XJ01", "XA11"), "Q": ("XC01", "XA16"), "S": ("XN02", "XB02", "XM03"), "T": ("XV03", "XN02"),
}
WARD_DRUGS = ("XB05", "XA12", "XA11", "XA02", "XN02", "XA04")
TREATMENT_GAP = 0.12            # a diagnosis with no drug line of its classes [M]
DRUG_NOISE = 0.04               # a drug line of any class [M]


def _treated(case: Case, lines: list[FeeLine], pools: dict[str, list[str]], rng: random.Random) -> list[FeeLine]:
    """The stay's Western drug lines recoded: first one or two for each diagnosis its bill treats, the
    rest ward drugs or (now and then) any drug. Amounts, days and totals are kept; ``rng`` is a stream of
    the stay's own (seeded by its id and first amount), so the caller's stream is left as it was."""
    drugs = [i for i, line in enumerate(lines) if line.item_code in _drug_set(pools)]
    if not drugs:
        return lines
    wanted = []
    for code in (case.principal_dx, *case.secondary_dx):
        classes = _clinical_class(code)
        if classes and rng.random() >= TREATMENT_GAP:
            wanted.extend(rng.choice(classes) for _ in range(rng.randint(1, 2)))
    rng.shuffle(drugs)
    out = list(lines)
    for number, index in enumerate(drugs):
        kind = (wanted[number] if number < len(wanted) else None if rng.random() < DRUG_NOISE
                else rng.choice(WARD_DRUGS))
        code = _drug_code(pools, kind, rng)
        if code:
            out[index] = out[index].model_copy(update={"item_code": code})
    return out


def _clinical_class(code: str) -> tuple[str, ...]:
    return TREATED_WITH.get(code[:2]) or TREATED_WITH.get(code[:1], ())


_DRUG_POOLS: dict[int, tuple[list[str], frozenset[str], dict[str, list[str]]]] = {}


def _drug_set(pools: dict[str, list[str]]) -> frozenset[str]:
    return _by_class(pools)[1]


def _by_class(pools: dict[str, list[str]]) -> tuple[list[str], frozenset[str], dict[str, list[str]]]:
    """The pools' Western drug codes, as a set and by 4-character class (XC01 …), worked out once per pool
    (the pool is kept with them, so its id stays its own)."""
    codes = pools.get("western_drugs", [])
    known = _DRUG_POOLS.get(id(codes))
    if known is None or known[0] is not codes:
        by_class: dict[str, list[str]] = {}
        for code in codes:
            by_class.setdefault(code[:4], []).append(code)
        known = _DRUG_POOLS[id(codes)] = (codes, frozenset(codes), by_class)
    return known


def _drug_code(pools: dict[str, list[str]], kind: str | None, rng: random.Random) -> str | None:
    if kind is None:
        codes = pools.get("western_drugs")
        return rng.choice(codes) if codes else None
    codes = _by_class(pools)[2].get(kind)
    return rng.choice(codes) if codes else None


def _spread(key: str, total: Decimal, days: int, rng: random.Random, at_least: int = 1) -> list[tuple[int, Decimal]]:
    if key in DAILY_KEYS:
        when = list(range(days))
    elif key in ONE_DAY_KEYS:
        day = min(1, days - 1)
        when = [day] * max(at_least, min(15, int(total / LINE_SIZE[key])))
    elif key in FRONT_KEYS:
        when = [0 if (r := rng.random()) < 0.5 else min(1, days - 1) if r < 0.7 else rng.randrange(days)
                for _ in range(max(1, min(30, int(total / LINE_SIZE[key]))))]
    elif key in ("western_drugs", "patent_chinese_drugs", "herbal_pieces"):
        when = [day for day in range(days) for _ in range(rng.randint(1, 4 if day < 3 else 2))]
    else:
        when = [rng.randrange(days) for _ in range(max(1, min(20, int(total / LINE_SIZE.get(key, 100)))))]
    weights = [rng.uniform(0.5, 1.5) / (1 + 0.1 * day) for day in when]
    scale = sum(weights)
    amounts = [(total * Decimal(repr(w / scale))).quantize(CENT, ROUND_HALF_UP) for w in weights]
    amounts[-1] += total - sum(amounts, Decimal(0))
    return sorted(zip(when, amounts, strict=True))
