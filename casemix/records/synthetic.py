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
import gc
import multiprocessing
import random
from bisect import bisect
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from itertools import accumulate
from pathlib import Path
from typing import NamedTuple

import polars as pl

from casemix.errors import InputError
from casemix.records.case import CENT, Case
from casemix.records.columnar import fen_text, write_csv_chunks
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
READMISSION_SHARE = 0.03                            # share of stays that are readmissions [M]
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
                   readmission_share: float = READMISSION_SHARE, seed: int = 2025,
                   patients: int | None = None) -> list[Case]:
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


class _Brief(NamedTuple):
    """What a later stay reads of an earlier one: readmission and the patient's days in hospital."""

    principal_dx: str
    sex: int | None
    age: int | None
    age_days: int | None
    hospital: int                   # its place in the plan of hospitals
    patient: int                    # the patient's number (patient_id P0000123)
    admitted: int                   # dates as ordinals (date.toordinal)
    discharged: int
    chronic: tuple[str, ...]        # the patient's chronic conditions coded on this stay
    surgical: bool


def synthetic_stays(sample: list[Case], hospitals: int = 100, cases: int = 100_000, year: int = 2025,
                    readmission_share: float = READMISSION_SHARE, seed: int = 2025,
                    patients: int | None = None) -> Iterator[Stay]:
    """The stays of :func:`synthetic_city` one at a time, keeping only a brief of each earlier stay, so a
    city of millions is written without holding its cases."""
    plan, draws = _city_draws(sample, hospitals, cases, year, readmission_share, seed, patients)
    for number, (real, hospital, patient, admitted, drawn, surgical) in enumerate(draws):
        hospital_id, tier, _ = plan[hospital]
        los = _stay_days(real)
        cost, self_pay, *fees = _priced(real.total_cost, los, tier, surgical, _factors(drawn, surgical))
        fees = dict(zip(_PRICED_KEYS[surgical], fees, strict=True))
        admission = date.fromordinal(admitted)
        yield Stay(real, f"S{number:07d}", hospital_id, tier.level, f"P{patient:07d}", admission,
                   admission + timedelta(days=los), cost, self_pay, fees)


def _city_draws(sample: list[Case], hospitals: int, cases: int, year: int, readmission_share: float, seed: int,
                patients: int | None) -> tuple[list[tuple[str, Tier, float]], Iterator[tuple]]:
    """The plan of hospitals, and the city's draws stay by stay (:func:`_draws`), from one stream seeded ``seed``."""
    rng = random.Random(seed)
    pool = [c for c in sample if c.total_cost]
    if not pool:
        raise InputError("the sample has no case with a cost to resample")
    plan = _hospitals(hospitals, rng)
    return plan, _draws(pool, plan, cases, year, readmission_share, rng, patients or int(cases * 0.8) + 1)


def _draws(pool: list[Case], plan: list[tuple[str, Tier, float]], cases: int, year: int, readmission_share: float,
           rng: random.Random, patients: int) -> Iterator[tuple]:
    """The city's random stream, one tuple a stay: (real case, its hospital's place in ``plan``, patient number,
    admission date as an ordinal, the draws that price it (the cost noise, then [0, 1) draws: :func:`_factors`),
    surgical).

    Only the drawing is done here; pricing needs no draw, so it can be done elsewhere (in another process) with
    the same result. ``random.choices``, ``choice``,
    ``randrange`` and ``uniform`` are made from the stream's own ``random()`` and ``_randbelow`` exactly as
    CPython's ``random.py`` makes them (same calls, same order, same arithmetic), so a seed gives the city it
    always gave (tests/test_city_fixture.py)."""
    random_, below, lognormal = rng.random, rng._randbelow, rng.lognormvariate
    cumulative = list(accumulate(tier.volume for _, tier, _ in plan))
    total, last = cumulative[-1] + 0.0, len(plan) - 1      # random.choices(plan, cum_weights=cumulative), one draw
    levels = [level for _, _, level in plan]
    reasons = _Reasons.of(pool)
    known, facts = reasons.known, reasons.facts
    first_day = date(year, 1, 1).toordinal()
    out: list[_Brief] = []
    stays_of: dict[int, list[int]] = {}         # patient → indexes of their stays in ``out``
    for _ in range(cases):
        real = None
        if out and random_() < readmission_share:
            first = out[below(len(out))]
            hospital = bisect(cumulative, random_() * total, 0, last) if random_() < READMITTED_ELSEWHERE \
                else first.hospital
            real = reasons.readmitted(first, rng)
            admitted = _readmission_day(first, real, rng, year)
            patient = first.patient
            if not _free(out, stays_of.get(patient, ()), admitted, real.los_days or 7):
                real = None
        if real is None:
            hospital = bisect(cumulative, random_() * total, 0, last)
            real = pool[below(len(pool))]
            admitted = first_day + below(365)
            patient = _free_patient(out, stays_of, admitted, real.los_days or 7, patients, below)
        noise = levels[hospital] * lognormal(0, 0.1)
        chronic, surgical = known.get(id(real)) or facts(real)
        drawn = [noise]
        drawn += [random_() for _ in range(4 + len(_SHARES[surgical]))]
        out.append(_Brief(real.principal_dx, real.sex, real.age, real.age_days, hospital, patient, admitted,
                          admitted + _stay_days(real), chronic, surgical))
        stays_of.setdefault(patient, []).append(len(out) - 1)
        yield real, hospital, patient, admitted, drawn, surgical


def _stay_days(real: Case) -> int:
    return real.los_days if real.los_days is not None else 7


_SHARES = {False: MEDICAL_SHARES, True: SURGICAL_SHARES}     # by surgical
_Factors = tuple[float, ...]        # see _factors


def _factors(drawn: list[float], surgical: bool) -> _Factors:
    """What pricing takes from a stay's draws, worked out in floats as random.uniform works them out: the cost
    noise, the self-pay share (15–35 %), the three daily charges' factors (0.9–1.1 of the rate), then each
    share of what is left after them, in the order of the shares (``drawn``: the noise, then the [0, 1) draws,
    self-pay first). :func:`_factor_columns` works them out a chunk at a time."""
    noise, own, bed, nursing, consultation, *rest = drawn
    draws = [low + (high - low) * u for (low, high), u in zip(_SHARES[surgical].values(), rest, strict=True)]
    total = sum(draws)
    return (noise, 0.15 + (0.35 - 0.15) * own, 0.9 + (1.1 - 0.9) * bed, 0.9 + (1.1 - 0.9) * nursing,
            0.9 + (1.1 - 0.9) * consultation, *[draw / total for draw in draws])


def _factor_columns(surgical: bool) -> list[pl.Expr]:
    """:func:`_factors` as columns f0… from columns d0… of the draws: the same float operations in the same
    order (the shares' total summed left to right, as ``sum`` does)."""
    drawn = [pl.col(f"d{i}") for i in range(5 + len(_SHARES[surgical]))]
    draws = [low + (high - low) * u for (low, high), u in zip(_SHARES[surgical].values(), drawn[5:], strict=True)]
    total = draws[0]
    for draw in draws[1:]:
        total = total + draw
    factors = [drawn[0], 0.15 + (0.35 - 0.15) * drawn[1], 0.9 + (1.1 - 0.9) * drawn[2],
               0.9 + (1.1 - 0.9) * drawn[3], 0.9 + (1.1 - 0.9) * drawn[4], *[draw / total for draw in draws]]
    return [factor.alias(f"f{i}") for i, factor in enumerate(factors)]


def _priced(real_cost: Decimal, los: int, tier: Tier, surgical: bool, factors: _Factors) -> list[Decimal]:
    """A stay's total cost (the real case's at the hospital's level with noise), self-pay, then its charge
    categories (:func:`_fee_values`, in the order of ``_PRICED_KEYS``), to the cent, rounded half up: each
    factor taken as the decimal its repr writes (the shortest that reads back as the float).
    :func:`_priced_in_fen` gives the same figures a chunk at a time."""
    cost = (real_cost * Decimal(repr(factors[0]))).quantize(CENT, ROUND_HALF_UP)
    self_pay = (cost * Decimal(repr(factors[1]))).quantize(CENT, ROUND_HALF_UP)
    return [cost, self_pay, *_fee_values(cost, los, tier, surgical, factors[2:5], factors[5:])]


CITY_CHUNK = 25_000      # stays turned into one text frame at a time
FORK_FROM_STAYS = 10_000     # a city this large is drawn in a process of its own while this one writes it
_UNIX_DAY = date(1970, 1, 1).toordinal()


def write_synthetic_city(path: str | Path, sample: list[Case], hospitals: int = 100, cases: int = 100_000,
                         year: int = 2025, seed: int = 2025,
                         progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """The file ``write_cases(path, synthetic_city(sample, …))`` writes, byte for byte, without a Case per stay
    (CSV in text columns; .xlsx and .parquet through write_cases); gives (stays, hospitals) written.
    ``progress`` is told (stays made, stays in all) as the stays are made.

    A large city is drawn in a forked process (:func:`_drawn_elsewhere`: the random stream is one sequence,
    so it stays in one process, whole) while this one prices the stays and writes them: two cores at work."""
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".parquet"):
        made = [stay.case() for stay in _told(synthetic_stays(sample, hospitals, cases, year, seed=seed), cases,
                                              progress)]
        write_cases(path, made)
        return len(made), len({c.hospital_id for c in made})
    plan, draws = _city_draws(sample, hospitals, cases, year, READMISSION_SHARE, seed, None)
    place_of = {id(case): place for place, case in enumerate(sample)}
    chunks = _drawn_elsewhere(lambda: _chunked(draws, place_of), cases >= FORK_FROM_STAYS)
    texts = _CityTexts(sample, plan)
    frames, done = [], 0
    with closing(chunks), _collector_paused():        # closing: a child still drawing is stopped on an error
        for chunk in chunks:
            frames.append(texts.frame(chunk, done))
            done += len(chunk)
            if progress:
                progress(done, cases)
    kept = texts.kept()
    blank = pl.lit(None, pl.String)       # a category some chunk's stays have not: blank in that chunk's rows
    write_csv_chunks((frame.select(pl.col(name) if name in frame.columns else blank.alias(name) for name in kept)
                      for frame in frames), kept, path)       # as write_cases: fee columns of the categories present
    return done, len(texts.hospitals)


def _chunked(draws: Iterator[tuple], place_of: dict[int, int]) -> Iterator[list[tuple]]:
    """The draws in chunks of ``CITY_CHUNK``, each real case named by its place in the sample, or (a readmission's
    changed copy) given as its texts, cost and days, so that a chunk pickles small."""
    chunk: list[tuple] = []
    for real, hospital, patient, admitted, drawn, surgical in draws:
        place = place_of.get(id(real))
        if place is None:
            place = (_case_texts(real), real.total_cost, _stay_days(real))
        chunk.append((place, hospital, patient, admitted, drawn, surgical))
        if len(chunk) == CITY_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _CityTexts:
    """The city file's text columns for chunks of draws: the real cases' cells taken from one frame of the
    sample's cells, the stay's own cells (ids, hospital, patient, dates, money) put over them."""

    def __init__(self, sample: list[Case], plan: list[tuple[str, Tier, float]]):
        self.cells = pl.DataFrame([_case_texts(case) for case in sample], schema=dict.fromkeys(CASE_FILE_COLUMNS,
                                                                                               pl.String), orient="row")
        self.costs = [case.total_cost for case in sample]
        self.fens = [_whole_fen(case.total_cost) for case in sample]
        self.days = [_stay_days(case) for case in sample]
        self.plan = plan
        self.hospital_ids = pl.Series([hospital_id for hospital_id, _, _ in plan], dtype=pl.String)
        self.levels = pl.Series([tier.level for _, tier, _ in plan], dtype=pl.String)
        self.bed = pl.Series([tier.bed_per_day for _, tier, _ in plan], dtype=pl.Int64)
        self.nursing = pl.Series([tier.nursing_per_day for _, tier, _ in plan], dtype=pl.Int64)
        self.hospitals: set[int] = set()
        self.fee_keys: set[str] = set()         # the charge categories the stays have, as write_cases finds them

    def kept(self) -> list[str]:
        """The file's columns: CASE_FILE_COLUMNS, then a ``fee_<key>`` column for each charge category present."""
        return CASE_FILE_COLUMNS + [f"fee_{key}" for key in sorted(self.fee_keys)]

    def frame(self, chunk: list[tuple], first_number: int) -> pl.DataFrame:
        """One chunk's rows as a text frame: the case file's columns (in no set order: the writer selects them by
        name), a ``fee_<key>`` column for each charge category its stays have."""
        reals, hospitals, patients, admitted, _, kinds = zip(*chunk, strict=True)
        places, changed, costs, fens, days = [], [], list(self.costs), list(self.fens), list(self.days)
        for real in reals:
            if real.__class__ is int:
                places.append(real)
            else:                               # a readmission's changed copy of a real case
                texts, real_cost, los = real
                places.append(len(costs))
                changed.append(texts)
                costs.append(real_cost)
                fens.append(_whole_fen(real_cost))
                days.append(los)
        stays = pl.DataFrame({"row": range(len(chunk)), "place": places, "hospital": hospitals, "patient": patients,
                              "admitted": admitted}, schema=dict.fromkeys(["row", "place", "hospital", "patient",
                                                                           "admitted"], pl.Int64))
        stays = stays.with_columns(fen=pl.Series(fens, dtype=pl.Int64).gather(stays["place"]),
                                   days=pl.Series(days, dtype=pl.Int64).gather(stays["place"]),
                                   bed=self.bed.gather(stays["hospital"]),
                                   nursing=self.nursing.gather(stays["hospital"]))
        self.hospitals.update(hospitals)
        cells = self.cells
        if changed:
            cells = pl.concat([cells, pl.DataFrame(changed, schema=cells.schema, orient="row")])
        own = stays.select(
            id=pl.lit("S") + pl.int_range(first_number, first_number + len(chunk), dtype=pl.Int64)
            .cast(pl.String).str.zfill(7),
            hospital_id=self.hospital_ids.gather(stays["hospital"]),
            hospital_level=self.levels.gather(stays["hospital"]),
            patient_id=pl.lit("P") + pl.col("patient").cast(pl.String).str.zfill(7),
            admission_date=_iso_date(pl.col("admitted")),
            discharge_date=_iso_date(pl.col("admitted") + pl.col("days")),
        )
        money = [self._money(stays, surgical, chunk, [costs[place] for place in places])
                 for surgical in (False, True) if surgical in kinds]
        fen = pl.concat(money, how="diagonal").sort("row").drop("row")
        texts = fen.select(fen_text(pl.col(name)).alias(name) for name in fen.columns)
        base = cells[stays["place"]].drop(own.columns, "total_cost", "self_pay")
        return pl.concat([base, own, texts], how="horizontal")

    def _money(self, stays: pl.DataFrame, surgical: bool, chunk: list[tuple], costs: list[Decimal]) -> pl.DataFrame:
        """The money of the chunk's stays of one kind in fen (row, total_cost, self_pay, fee_<key>…): in columns
        (:func:`_priced_in_fen`), and a stay with a product within a hair of half a fen by :func:`_priced`."""
        rows = [row for row, (*_, kind) in enumerate(chunk) if kind is surgical]
        self.fee_keys.update(_PRICED_KEYS[surgical])
        draws = pl.DataFrame([chunk[row][4] for row in rows], orient="row",
                             schema=[f"d{i}" for i in range(5 + len(_SHARES[surgical]))])
        priced = _priced_in_fen(pl.concat([stays[rows], draws], how="horizontal"), surgical)
        near = priced.filter("near").select("row", "days", "hospital").rows()
        priced = priced.drop("near", "days", "hospital")
        if not near:
            return priced
        again = [[row, *map(_fen_of, _priced(costs[row], days, self.plan[hospital][1], surgical,
                                             _factors(chunk[row][4], surgical)))] for row, days, hospital in near]
        return pl.concat([priced.filter(~pl.col("row").is_in([row for row, *_ in near])),
                          pl.DataFrame(again, schema=priced.schema, orient="row")])


_MARGIN = 1e-13         # relative: a float product this close to half a fen is priced in Decimal instead


def _priced_in_fen(stays: pl.DataFrame, surgical: bool) -> pl.DataFrame:
    """:func:`_priced` over a frame of stays of one kind, in integer fen, in floats: row, total_cost, self_pay
    and ``fee_<key>`` in the order of ``_PRICED_KEYS``, and ``near``, true where some product came within
    ``_MARGIN`` of half a fen (or a figure is not positive), whose figures the caller takes from ``_priced``
    (with the stay's days and hospital, for that).

    Columns in: row, fen (the real case's cost in fen), days, bed and nursing (the tier's rates) and the draws
    d0… (:func:`_draws`). Why the figures are ``_priced``'s: a factor's float and the decimal its repr writes
    differ by at most half an ulp, so a product here is within 2.3e-16 times itself of its ``Decimal`` (whose 28
    digits round away at most 5e-28); a product further than that from half a fen rounds half up to the same
    fen. The factors and the daily charges are the same float operations, in the same order, as ``_factors`` and
    ``_fee_values`` make (``Decimal(float)`` is that float exactly; only the daily charges' ×100 is rounded,
    within the same bound); were a float here an ulp or two off, the margin (1e-13, some 400 ulps) would hold."""
    shares = len(_SHARES[surgical])
    keys = _PRICED_KEYS[surgical]
    factor = [pl.col(f"f{i}") for i in range(5 + shares)]
    near: list[pl.Expr] = []

    def fen(product: pl.Expr, name: str) -> pl.Expr:
        value, close = _half_up(product)
        near.append(close)
        return value.alias(name)

    day_count = pl.max_horizontal(pl.col("days"), pl.lit(1))
    rates = [pl.col("bed") * day_count, pl.col("nursing") * day_count, CONSULTATION_PER_DAY * day_count]
    frame = stays.with_columns(_factor_columns(surgical))
    frame = frame.with_columns(fen(pl.col("fen").cast(pl.Float64) * factor[0], "total_cost"))
    frame = frame.with_columns(
        fen(pl.col("total_cost").cast(pl.Float64) * factor[1], "self_pay"),
        # min(1.0, 0.5 * float(cost) / sum(rates)): daily charges at most half the bill
        scale=pl.min_horizontal(pl.lit(1.0), 0.5 * (pl.col("total_cost").cast(pl.Float64) / 100.0)
                                / (rates[0] + rates[1] + rates[2]).cast(pl.Float64)),
        **{f"rate{i}": rate for i, rate in enumerate(rates)})
    daily = [f"fee_{key}" for key in keys[:3]]
    frame = frame.with_columns(fen(pl.col(f"rate{i}").cast(pl.Float64) * pl.col("scale") * factor[2 + i] * 100.0,
                                   name) for i, name in enumerate(daily))
    frame = frame.with_columns(rest=pl.col("total_cost") - pl.sum_horizontal(daily))
    shared = [f"fee_{key}" for key in keys[3:]]
    frame = frame.with_columns(fen(pl.col("rest").cast(pl.Float64) * factor[5 + i], name)
                               for i, name in enumerate(shared))
    drugs = f"fee_{keys[_DRUGS_AT[surgical]]}"
    frame = frame.with_columns((pl.col(drugs) + pl.col("total_cost") - pl.sum_horizontal(daily + shared)).alias(drugs),
                               near=pl.any_horizontal(*near, pl.col("total_cost") <= 0, pl.col("rest") <= 0,
                                                      pl.col("fen").is_null()))
    return frame.select("row", "total_cost", "self_pay", *daily, *shared, "near", "days", "hospital")


def _half_up(product: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The product rounded half up to a whole fen, and whether it is too close to half a fen to tell (or
    negative, or too large for a float's whole numbers)."""
    whole = product.floor()
    part = product - whole
    close = ((part - 0.5).abs() <= product.abs() * _MARGIN + 1e-9) | (product < 0) | (product >= 2.0 ** 50)
    return whole.cast(pl.Int64) + (part > 0.5).cast(pl.Int64), (close | product.is_nan()).fill_null(True)


def _whole_fen(money: Decimal | None) -> int | None:
    """``money`` in fen, or None when it is not a whole number of fen (priced in Decimal, then)."""
    if money is None:
        return None
    fen = money.scaleb(2)
    return int(fen) if fen == fen.to_integral_value() else None


def _fen_of(money: Decimal) -> int:
    return int(money.scaleb(2))


def _iso_date(ordinal: pl.Expr) -> pl.Expr:
    return (ordinal - _UNIX_DAY).cast(pl.Int32).cast(pl.Date).cast(pl.String)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused: a chunk's draws and prices are tuples, strings and Decimals, freed
    by reference counting, and collections would only rescan them (about a seventh of the time of pricing)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _drawn_elsewhere(chunks: Callable[[], Iterator[list]], fork: bool) -> Generator[list, None, None]:
    """``chunks()`` consumed in a forked process and its chunks handed back here in order, or (``fork`` false, or
    no fork on this system) here. The child runs Python alone (it draws; a forked child that calls polars waits
    for threads it has not got), holds the whole random stream, and the pipe between keeps one chunk in flight."""
    if not fork or "fork" not in multiprocessing.get_all_start_methods():
        yield from chunks()
        return
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_send_chunks, args=(chunks, sender), daemon=True)
    gc.freeze()         # the child does not scan (or copy, by touching) the parent's heap
    try:
        child.start()
    finally:
        gc.unfreeze()
    sender.close()
    finished = False
    try:
        while True:
            kind, payload = receiver.recv()
            if kind == "error":
                raise payload
            if kind == "end":
                finished = True
                return
            yield payload
    finally:
        receiver.close()
        if not finished:
            child.terminate()
        child.join()


def _send_chunks(chunks: Callable[[], Iterator[list]], sender) -> None:
    """In the forked child: every chunk sent, then "end"; an error sent instead, to be raised in the parent."""
    gc.disable()        # a short life that makes no cycles: collections would only rescan the stays' briefs
    try:
        for chunk in chunks():
            sender.send(("chunk", chunk))
        sender.send(("end", None))
    except Exception as error:       # noqa: BLE001 - handed to the parent, which raises it
        sender.send(("error", error))
    finally:
        sender.close()


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


def _case_texts(case: Case) -> tuple[str, ...]:
    """The cells ``write_cases`` writes for ``case`` (CASE_FILE_COLUMNS)."""
    def text(value: object) -> str:
        if value is None:
            return ""
        return ",".join(value) if isinstance(value, tuple) else str(value)
    return tuple(text(getattr(case, column)) for column in CASE_FILE_COLUMNS)


def _free_patient(out: list[_Brief], stays_of: dict[int, list[int]], admitted: int, los: int, patients: int,
                  below: Callable[[int], int]) -> int:
    """A patient not in hospital on these days: nobody is in two wards at once (``below``: randrange)."""
    for _ in range(20):
        patient = below(patients)
        indexes = stays_of.get(patient)
        if not indexes or _free(out, indexes, admitted, los):
            return patient
    return patient


def _free(out: list[_Brief], indexes, admitted: int, los: int) -> bool:
    """Whether a stay from day ``admitted`` for ``los`` days overlaps none of the stays at ``indexes``."""
    ends = admitted + los
    return all(out[i].discharged <= admitted or ends <= out[i].admitted for i in indexes)


def is_surgical(procedures: tuple[str, ...]) -> bool:
    """Whether any code is an operation: ICD-9-CM-3 chapters 01–86 (87–99 are diagnostic and other procedures)."""
    return any(code[:2].isdigit() and int(code[:2]) < 87 for code in procedures)


def _fee_values(cost: Decimal, los: int, tier: Tier, surgical: bool, daily: tuple[float, ...],
                shares: tuple[float, ...]) -> list[Decimal]:
    """Charge categories adding up exactly to ``cost``: daily charges at the tier's rates, each times its factor
    in ``daily``, at most half the bill; the rest by ``shares`` (in the order of the surgical or medical
    shares); the rounding cents to western drugs."""
    days = max(los, 1)
    rates = (tier.bed_per_day * days, tier.nursing_per_day * days, CONSULTATION_PER_DAY * days)
    scale = min(1.0, 0.5 * float(cost) / sum(rates))       # daily charges at most half the bill
    fees = [Decimal(rate * scale * factor).quantize(CENT, ROUND_HALF_UP) for rate, factor in zip(rates, daily)]
    rest = cost - sum(fees)
    fees += [(rest * Decimal(repr(share))).quantize(CENT, ROUND_HALF_UP) for share in shares]
    fees[_DRUGS_AT[surgical]] += cost - sum(fees)       # the rounding cents
    return fees


def chronic_conditions(codes: Iterable[str]) -> tuple[str, ...]:
    """The codes among ``codes`` that name a chronic condition (``CHRONIC_BLOCKS``), in their order."""
    return tuple(code for code in codes if _chronic_category(code[:3]))


@cache
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


def _readmission_day(first: _Brief, real: Case, rng: random.Random, year: int) -> int:
    """Most readmissions come within a month, a few later; the pair stays inside the year (days as ordinals)."""
    gap = min(90, 1 + int(rng.expovariate(1 / 12)))
    admitted = first.discharged + gap
    if not date(year, 1, 1).toordinal() <= admitted <= date(year, 12, 31).toordinal():
        admitted = first.admitted - gap - (real.los_days or 7)        # the new stay comes first instead
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
_PRICED_KEYS = {surgical: (*DAILY_KEYS, *shares) for surgical, shares in _SHARES.items()}    # _fee_values's order
_DRUGS_AT = {surgical: keys.index("western_drugs") for surgical, keys in _PRICED_KEYS.items()}
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
