"""Labelled irregularities injected into a synthetic city, and the audit's precision and recall on them.

Each kind is made in several ways, the ways issue 12 §3 and DOMAIN.md §7.2 describe it being done
(a split into halves, a work-up stay before the operation, a department transfer turned into two
stays; a duplicate with dates shifted, costs tweaked or secondaries reordered …), at fixed shares,
and most events of a kind (``OFFENDER_SHARE``) come from a few offending hospitals, as audits find.

The injector knows nothing of the checks: it reads only the city, the scheme's code tables and its
own per-DRG mean costs, and it writes only data (stays, fee categories, outpatient visits). Its labels
(``Event``: kind, variant, the stays it made or changed) are read only by the scoring here.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from casemix.audit.catalogue import Catalogue, load_catalogue
from casemix.audit.checks import Flag
from casemix.audit.engine import Auditor
from casemix.grouping import GroupedCase, Grouper
from casemix.policy import Policy
from casemix.records import Case
from casemix.records.case import CENT
from casemix.records.fees import FeeClassifier, FeeLine
from casemix.records.outpatient import OutpatientVisit, synthetic_visits
from casemix.records.synthetic import synthetic_city, synthetic_fee_lines

# kind → variant → share of the kind's events [M: shares chosen to mix easy and hard variants]
VARIANTS: dict[str, dict[str, float]] = {
    "split_admission": {"halved": 0.4, "related_principal": 0.25, "staged_surgery": 0.15,
                        "department_transfer": 0.2},
    "duplicate_claim": {"exact_copy": 0.2, "shifted_dates": 0.3, "tweaked_cost": 0.3, "codes_reordered": 0.2},
    "upcoding": {"rare_mcc_added": 0.5, "cc_added": 0.3, "common_mcc_added": 0.2},
    "padded_procedures": {"minor_procedures_added": 0.4, "operation_without_theatre": 0.4,
                          "extra_operation": 0.2},
    "low_standard_admission": {"checks_only": 0.7, "observation": 0.3},
    "cost_shifting": {"work_up_before": 0.5, "drugs_after": 0.3, "both": 0.2},
    "dumping": {"transferred_early": 0.4, "left_against_advice": 0.3, "transferred_and_readmitted": 0.3},
    "bed_hanging": {"idle_days_added": 0.5, "idle_stay": 0.2, "clinic_elsewhere": 0.3},
    "fake_admission": {"templated_batch": 0.6, "overlapping_stay": 0.4},
    "deviation_gaming": {"inflated_above_threshold": 1.0},
}
OFFENDERS = 3                   # offending hospitals per kind
OFFENDER_SHARE = 0.7            # share of a kind's events at its offending hospitals
GAMING_SHARE = 0.03             # deviation gaming: share of one hospital's stays inflated past the threshold
MEDICAL_LETTERS = "RSTUVWXYZ"
DAILY = ("bed", "nursing", "consultation")
EXAMS = ("examination", "laboratory")


@dataclass(frozen=True)
class Event:
    """One injected irregularity: its kind and variant, its hospital, and the stays it made or changed."""

    kind: str
    variant: str
    hospital_id: str
    case_ids: tuple[str, ...]


@dataclass
class Injected:
    cases: list[Case]
    events: list[Event]
    visits: list[OutpatientVisit]          # the background visits plus the injected ones
    offenders: dict[str, set[str]] = field(default_factory=dict)   # kind → offending hospitals
    bills: dict[str, list[FeeLine]] = field(default_factory=dict)  # the fee lines of stays whose care it rewrote


class _Injector:
    """The city being changed: its stays by id, who is used, fresh ids, and the injector's own norms."""

    def __init__(self, cases: list[Case], grouper: Grouper, visits: list[OutpatientVisit], seed: int,
                 fee_codes: dict[str, list[str]] | None = None):
        self.rng = random.Random(seed)
        self.fee_codes = fee_codes
        self.bills: dict[str, list[FeeLine]] = {}
        self.grouper = grouper
        self.cases = {case.id: case for case in cases}
        self.order = [case.id for case in cases]
        self.groups = {case.id: grouper.group(case, explain=False) for case in cases}
        self.visits = list(visits)
        self.used: set[str] = set()
        self.serial = 0
        costs: dict[str, list[float]] = defaultdict(list)
        for case in cases:
            if case.total_cost:
                costs[self.groups[case.id].drg].append(float(case.total_cost))
        self.drg_mean = {drg: statistics.fmean(values) for drg, values in costs.items() if len(values) >= 10}
        self.city_mean = statistics.fmean(float(c.total_cost) for c in cases if c.total_cost)
        self.by_hospital: dict[str, list[str]] = defaultdict(list)
        for case in cases:
            self.by_hospital[case.hospital_id or ""].append(case.id)
        self.hospitals = sorted(self.by_hospital)
        scheme = grouper.scheme
        severity = frozenset(scheme.mcc) | frozenset(scheme.cc)
        pairs: dict[str, Counter] = defaultdict(Counter)
        for case in cases:
            pairs[case.principal_dx[:3]].update(code for code in case.secondary_dx if code in severity)
        # the MCC/CC codes most often seen with each principal category, OR procedures the city's stays
        # carry first, and minor (non-OR) imaging and diagnostic procedures, from the clean city
        self.usual_severity = {category: [code for code, _ in counter.most_common(5)]
                               for category, counter in pairs.items()}
        self.operations = sorted({c.procedures[0] for c in cases if c.procedures
                                  and c.procedures[0] in scheme.or_procedures})
        self.minor = sorted(p for p in grouper.codebook.names["procedure"]
                            if p.startswith(("87.", "88.", "89.")) and p not in scheme.or_procedures)[:200]

    def new_id(self) -> str:
        self.serial += 1
        return f"S9{self.serial:06d}"

    def pick(self, hospital: str, accept: Callable[[Case], bool], tries: int = 400) -> Case | None:
        """An unused stay at ``hospital`` that ``accept`` takes, else one anywhere."""
        for pool in (self.by_hospital[hospital], self.order):
            for _ in range(tries):
                case = self.cases[self.rng.choice(pool)]
                if case.id not in self.used and accept(case):
                    return case
        return None

    def put(self, case: Case) -> None:
        if case.id not in self.cases:
            self.order.append(case.id)
        self.cases[case.id] = case
        self.used.add(case.id)

    def medical(self, case: Case) -> bool:
        adrg = self.groups[case.id].adrg if case.id in self.groups else ""
        return len(adrg) > 1 and adrg[1] in MEDICAL_LETTERS

    def operated(self, case: Case) -> bool:
        return any(code in self.grouper.scheme.or_procedures for code in case.procedures)

    def mean_of(self, case: Case) -> float | None:
        return self.drg_mean.get(self.groups[case.id].drg) if case.id in self.groups else None


def inject_irregularities(cases: list[Case], grouper: Grouper, share: float = 0.01, seed: int = 7,
                          visits: list[OutpatientVisit] | None = None,
                          fee_codes: dict[str, list[str]] | None = None) -> Injected:
    """``share`` × len(cases) events per kind (``VARIANTS``), most at a few offending hospitals. With
    ``fee_codes`` (item codes by charge category) a stay whose days it rewrites gets its itemised bill.

    Chemotherapy and radiotherapy cycles (ADRGs RE/RK/RL/RN…) are left alone: their repeats are due."""
    city = _Injector(cases, grouper, visits or [], seed, fee_codes)
    per_kind = max(1, int(len(cases) * share))
    events: list[Event] = []
    offenders: dict[str, set[str]] = {}
    big = [h for h in city.hospitals if len(city.by_hospital[h]) >= 200] or city.hospitals
    for kind, variants in VARIANTS.items():
        offenders[kind] = set(city.rng.sample(big, min(OFFENDERS, len(big))))
        if kind == "deviation_gaming":              # one hospital games the threshold
            offenders[kind] = {sorted(offenders[kind])[0]}
            events.extend(_gaming(city, sorted(offenders[kind])[0]))
            continue
        for variant, variant_share in variants.items():
            target = round(per_kind * variant_share)
            count = 0
            while count < target:
                offender = city.rng.random() < OFFENDER_SHARE
                hospital = city.rng.choice(sorted(offenders[kind]) if offender else city.hospitals)
                new = MAKERS[kind](city, variant, hospital)
                if not new:
                    count += 1          # no stay fits here: the attempt still counts, so the loop ends
                    continue
                events.extend(new)
                count += len(new)
    return Injected([city.cases[i] for i in city.order], events, city.visits, offenders, city.bills)


# ---- the makers: one per kind, each variant the way it is done --------------------------------------

def _scaled(case: Case, cost: Decimal, **update) -> Case:
    """The case at a new total cost, its fee categories scaled to add up to it exactly."""
    fees = None
    if case.fees and case.total_cost:
        factor = cost / case.total_cost
        fees = {key: (value * factor).quantize(CENT, ROUND_HALF_UP) for key, value in case.fees.items()}
        largest = max(fees, key=lambda k: fees[k])
        fees[largest] += cost - sum(fees.values(), Decimal(0))
    return case.model_copy(update={"total_cost": cost, "fees": fees, "self_pay": None, **update})


def _billed(cost: Decimal, shares: dict[str, float]) -> dict[str, Decimal]:
    total = sum(shares.values())
    fees = {key: (cost * Decimal(repr(value / total))).quantize(CENT, ROUND_HALF_UP) for key, value in shares.items()}
    first = next(iter(fees))
    fees[first] += cost - sum(fees.values(), Decimal(0))
    return fees


def _money(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(CENT, ROUND_HALF_UP)


def _exempt(city: _Injector, case: Case) -> bool:
    return city.groups[case.id].adrg[:2] in ("RE", "RK", "RL", "RN", "RB", "RC", "RG")


def _split(city: _Injector, variant: str, hospital: str) -> list[Event]:
    rng = city.rng
    if variant == "staged_surgery":
        case = city.pick(hospital, lambda c: city.operated(c) and (c.los_days or 0) >= 4 and not _exempt(city, c))
    else:
        case = city.pick(hospital, lambda c: (c.los_days or 0) >= 3 and not _exempt(city, c))
    if case is None:
        return []
    los = case.los_days or 3
    if variant == "staged_surgery":
        days = rng.randint(1, 3)
        work_cost = _money(float(case.total_cost) * rng.uniform(0.08, 0.2))
        first = case.model_copy(update={
            "procedures": (), "los_days": days, "discharge_date": case.admission_date + timedelta(days=days),
            "total_cost": work_cost, "self_pay": None,
            "fees": _billed(work_cost, {"examination": rng.uniform(0.35, 0.5), "laboratory": rng.uniform(0.25, 0.35),
                                        "bed": 0.05, "nursing": 0.04, "western_drugs": rng.uniform(0.03, 0.1)})})
        gap = rng.randint(2, 10)
        start = first.discharge_date + timedelta(days=gap)
        second = _scaled(case, case.total_cost - work_cost, id=city.new_id(), admission_date=start,
                         discharge_date=start + timedelta(days=max(los - days, 1)), los_days=max(los - days, 1))
    else:
        days = rng.randint(1, los - 1)
        gap = rng.randint(0, 1) if variant == "department_transfer" else rng.randint(1, 7)
        part = _money(float(case.total_cost) * (days / los) * rng.uniform(0.85, 1.15))
        part = min(part, case.total_cost - Decimal(1))
        first = _scaled(case, part, los_days=days, discharge_date=case.admission_date + timedelta(days=days))
        start = first.discharge_date + timedelta(days=gap)
        update = {"id": city.new_id(), "admission_date": start, "los_days": los - days,
                  "discharge_date": start + timedelta(days=los - days)}
        if variant in ("related_principal", "department_transfer") and (variant == "related_principal"
                                                                        or rng.random() < 0.5):
            update |= _related_principal(city, case)
        if variant == "department_transfer":
            update["department"] = f"{case.department or 'D'}-2"
        second = _scaled(case, case.total_cost - part, **update)
    city.put(first)
    city.put(second)
    return [Event("split_admission", variant, case.hospital_id or "", (first.id, second.id))]


def _related_principal(city: _Injector, case: Case) -> dict:
    """A principal for the second stay: a secondary of the first, else a sibling code in its category."""
    if case.secondary_dx and city.rng.random() < 0.5:
        code = city.rng.choice(case.secondary_dx)
        return {"principal_dx": code, "secondary_dx": tuple(c for c in case.secondary_dx if c != code)}
    names = city.grouper.codebook.names["diagnosis"]
    siblings = [code for code in _siblings(names, case.principal_dx[:3]) if code != case.principal_dx]
    return {"principal_dx": city.rng.choice(siblings)} if siblings else {}


def _siblings(names: dict[str, str], category: str) -> list[str]:
    return sorted(code for code in names if code.startswith(category))[:30]


def _duplicate(city: _Injector, variant: str, hospital: str) -> list[Event]:
    rng = city.rng
    case = city.pick(hospital, lambda c: bool(c.total_cost))
    if case is None:
        return []
    update: dict = {"id": city.new_id()}
    if variant == "shifted_dates":
        shift = timedelta(days=rng.choice((-1, 1)))
        update |= {"admission_date": case.admission_date + shift, "discharge_date": case.discharge_date + shift}
    if variant == "codes_reordered":
        codes = list(case.secondary_dx)
        rng.shuffle(codes)
        if len(codes) >= 3:
            codes.pop()
        update["secondary_dx"] = tuple(codes)
    cost = case.total_cost
    if variant in ("tweaked_cost", "codes_reordered"):
        cost = _money(float(cost) * (1 + rng.choice((-1, 1)) * rng.uniform(0.005, 0.04)))
    copy = _scaled(case, cost, **update)
    city.used.add(case.id)
    city.put(copy)
    return [Event("duplicate_claim", variant, case.hospital_id or "", (copy.id, case.id))]


def _upcoding(city: _Injector, variant: str, hospital: str) -> list[Event]:
    scheme = city.grouper.scheme
    case = city.pick(hospital, lambda c: city.groups[c.id].status == "grouped" and city.groups[c.id].drg.endswith("5"))
    if case is None:
        return []
    pdx = city.groups[case.id].principal_dx
    table = scheme.cc if variant == "cc_added" else scheme.mcc
    allowed = [code for code, exclusion in table.items() if pdx not in scheme.exclusions.get(exclusion, ())]
    if variant == "common_mcc_added":
        usual = city.usual_severity.get(pdx[:3], [])
        candidates = [code for code in usual if code in table]
    else:
        candidates = city.rng.sample(allowed, min(20, len(allowed)))
    for code in candidates:
        upcoded = case.model_copy(update={"secondary_dx": (*case.secondary_dx, code)})
        if city.grouper.group(upcoded, explain=False).drg[-1] in "13":
            city.put(upcoded)
            return [Event("upcoding", variant, case.hospital_id or "", (case.id,))]
    city.used.add(case.id)
    return []


def _padded(city: _Injector, variant: str, hospital: str) -> list[Event]:
    rng = city.rng
    if variant == "minor_procedures_added":
        case = city.pick(hospital, lambda c: True)
        if case is None:
            return []
        added = tuple(rng.sample(city.minor, rng.randint(5, 10)))
        padded = case.model_copy(update={"procedures": case.procedures + added})
    elif variant == "operation_without_theatre":
        case = city.pick(hospital, lambda c: city.medical(c) and not city.operated(c))
        if case is None:
            return []
        padded = None
        for code in rng.sample(city.operations, 25):
            trial = case.model_copy(update={"procedures": (code, *case.procedures)})
            adrg = city.grouper.group(trial, explain=False).adrg
            if len(adrg) > 1 and adrg[1] not in MEDICAL_LETTERS:
                padded = trial
                break
        if padded is None:
            city.used.add(case.id)
            return []
    else:
        case = city.pick(hospital, lambda c: city.operated(c))
        if case is None:
            return []
        padded = case.model_copy(update={"procedures": (*case.procedures, rng.choice(city.operations))})
    city.put(padded)
    return [Event("padded_procedures", variant, case.hospital_id or "", (case.id,))]


def _low_standard(city: _Injector, variant: str, hospital: str) -> list[Event]:
    rng = city.rng
    case = city.pick(hospital, lambda c: city.medical(c) and city.mean_of(c) is not None)
    if case is None:
        return []
    cost = _money(city.mean_of(case) * rng.uniform(0.08, 0.3))
    days = rng.randint(1, 2)
    if variant == "checks_only":
        shares = {"examination": rng.uniform(0.35, 0.5), "laboratory": rng.uniform(0.25, 0.35), "bed": 0.05,
                  "nursing": 0.04, "western_drugs": rng.uniform(0.02, 0.1)}
    else:
        shares = {"examination": rng.uniform(0.1, 0.25), "laboratory": rng.uniform(0.1, 0.2), "bed": 0.1,
                  "nursing": 0.08, "western_drugs": rng.uniform(0.2, 0.35), "treatment": rng.uniform(0.05, 0.15)}
    low = case.model_copy(update={"los_days": days, "discharge_date": case.admission_date + timedelta(days=days),
                                  "discharge_mode": "1", "procedures": (), "total_cost": cost, "self_pay": None,
                                  "fees": _billed(cost, shares)})
    city.put(low)
    return [Event("low_standard_admission", variant, case.hospital_id or "", (case.id,))]


def _shifting(city: _Injector, variant: str, hospital: str) -> list[Event]:
    rng = city.rng
    case = city.pick(hospital, lambda c: bool(c.total_cost) and float(c.total_cost) > 3000 and bool(c.patient_id))
    if case is None:
        return []
    moved = Decimal(0)
    visits = []
    for when in (("before", "after") if variant == "both" else
                 ("before",) if variant == "work_up_before" else ("after",)):
        amount = _money(float(case.total_cost) * rng.uniform(0.2, 0.35 if variant == "both" else 0.5))
        count = rng.randint(1, 3)
        parts = [(amount / count).quantize(CENT, ROUND_HALF_UP)] * (count - 1)
        parts.append(amount - sum(parts, Decimal(0)))
        for part in parts:
            day = (case.admission_date - timedelta(days=rng.randint(1, 6)) if when == "before"
                   else case.discharge_date + timedelta(days=rng.randint(1, 6)))
            visits.append(OutpatientVisit(id=f"V-{city.new_id()}", patient_id=case.patient_id,
                                          hospital_id=case.hospital_id, visit_date=day, total_cost=part))
        moved += amount
    city.visits.extend(visits)
    city.put(_scaled(case, case.total_cost - moved))
    return [Event("cost_shifting", variant, case.hospital_id or "", (case.id,))]


def _dumping(city: _Injector, variant: str, hospital: str) -> list[Event]:
    rng = city.rng
    case = city.pick(hospital, lambda c: (city.mean_of(c) or 0) > 2 * city.city_mean and (c.los_days or 0) >= 4)
    if case is None:
        return []
    days = max(1, round((case.los_days or 4) * rng.uniform(0.1, 0.3)))
    mode = "4" if variant == "left_against_advice" else "2"
    early = _scaled(case, _money(float(case.total_cost) * rng.uniform(0.08, 0.3)), discharge_mode=mode,
                    los_days=days, discharge_date=case.admission_date + timedelta(days=days))
    city.put(early)
    ids = (case.id,)
    if variant == "transferred_and_readmitted":
        elsewhere = rng.choice([h for h in city.hospitals if h != case.hospital_id])
        start = early.discharge_date + timedelta(days=rng.randint(0, 2))
        then = case.model_copy(update={"id": city.new_id(), "hospital_id": elsewhere, "admission_date": start,
                                       "discharge_date": start + timedelta(days=case.los_days or 4),
                                       "discharge_mode": "1"})
        city.put(then)
        ids = (case.id, then.id)
    return [Event("dumping", variant, case.hospital_id or "", ids)]


def _bed_hanging(city: _Injector, variant: str, hospital: str) -> list[Event]:
    rng = city.rng
    if variant == "idle_stay":
        case = city.pick(hospital, lambda c: city.medical(c))
        if case is None:
            return []
        days = rng.randint(7, 20)
        cost = _money(days * rng.uniform(120, 260))
        hung = case.model_copy(update={
            "los_days": days, "discharge_date": case.admission_date + timedelta(days=days), "procedures": (),
            "total_cost": cost, "self_pay": None,
            "fees": _billed(cost, {"bed": rng.uniform(0.3, 0.4), "nursing": rng.uniform(0.2, 0.3),
                                   "consultation": 0.08, "western_drugs": rng.uniform(0.1, 0.2),
                                   "laboratory": rng.uniform(0.02, 0.05)})})
        if city.fee_codes:
            city.bills[hung.id] = synthetic_fee_lines(hung, city.fee_codes, rng)
    else:
        case = city.pick(hospital, lambda c: bool(c.total_cost) and bool(c.fees) and (c.los_days or 0) >= 2)
        if case is None:
            return []
        idle = rng.randint(5, 15)
        per_day = {"bed": _money(rng.uniform(40, 90)), "nursing": _money(rng.uniform(20, 45)),
                   "consultation": Decimal(15), "western_drugs": _money(rng.uniform(20, 60))}
        fees = dict(case.fees)
        for key, value in per_day.items():
            fees[key] = fees.get(key, Decimal(0)) + value * idle
        cost = sum(fees.values(), Decimal(0))
        los = (case.los_days or 2) + idle
        hung = case.model_copy(update={"los_days": los, "discharge_date": case.admission_date + timedelta(days=los),
                                       "total_cost": cost, "fees": fees, "self_pay": None})
        if city.fee_codes:
            city.bills[hung.id] = [*synthetic_fee_lines(case, city.fee_codes, rng),
                                   *_idle_lines(city, hung, range(case.los_days or 2, los), per_day)]
        if variant == "clinic_elsewhere" and case.patient_id:
            elsewhere = rng.choice([h for h in city.hospitals if h != case.hospital_id])
            day = case.admission_date + timedelta(days=rng.randint(1, los - 1))
            city.visits.append(OutpatientVisit(id=f"V-{city.new_id()}", patient_id=case.patient_id,
                                               hospital_id=elsewhere, visit_date=day,
                                               total_cost=_money(rng.uniform(80, 400))))
    city.put(hung)
    return [Event("bed_hanging", variant, case.hospital_id or "", (case.id,))]


def _idle_lines(city: _Injector, case: Case, days: range, per_day: dict[str, Decimal]) -> list[FeeLine]:
    """One line a day of each charge in ``per_day`` (bed, nursing, consultation, a basic drug) over ``days``."""
    start = datetime.combine(case.admission_date, datetime.min.time())
    return [FeeLine(line_id=f"{case.id}-idle-{day}-{key}", visit_id=case.id, patient_id=case.patient_id,
                    hospital_id=case.hospital_id, item_code=city.rng.choice(city.fee_codes[key]), amount=amount,
                    price=amount, time=start + timedelta(days=day, hours=city.rng.randint(7, 20)),
                    department=case.department)
            for day in days for key, amount in per_day.items() if city.fee_codes.get(key)]


def _fake(city: _Injector, variant: str, hospital: str) -> list[Event]:
    rng = city.rng
    template = city.pick(hospital, lambda c: city.medical(c) and bool(c.fees))
    if template is None:
        return []
    city.used.add(template.id)
    if variant == "overlapping_stay":
        other = city.pick(rng.choice(city.hospitals), lambda c: c.hospital_id != template.hospital_id
                          and (c.los_days or 0) >= 4 and bool(c.patient_id))
        if other is None:
            return []
        start = other.admission_date + timedelta(days=rng.randint(1, (other.los_days or 4) - 2))
        stay = template.model_copy(update={"id": city.new_id(), "patient_id": other.patient_id,
                                           "admission_date": start,
                                           "discharge_date": start + timedelta(days=template.los_days or 3)})
        city.put(stay)
        city.used.add(other.id)
        return [Event("fake_admission", variant, template.hospital_id or "", (stay.id, other.id))]
    events = []
    start = template.admission_date
    for _ in range(rng.randint(6, 12)):
        admitted = start + timedelta(days=rng.randint(0, 10))
        stay = _scaled(template, _money(float(template.total_cost) * rng.uniform(0.99, 1.01)), id=city.new_id(),
                       patient_id=f"PF{city.serial:06d}", admission_date=admitted,
                       discharge_date=admitted + timedelta(days=template.los_days or 3))
        city.put(stay)
        events.append(Event("fake_admission", variant, template.hospital_id or "", (stay.id,)))
    return events


def _gaming(city: _Injector, hospital: str) -> list[Event]:
    """Stays of one hospital pushed just past twice their DRG's mean cost (the high-cost threshold)."""
    events = []
    for _ in range(round(GAMING_SHARE * len(city.by_hospital[hospital]))):
        case = city.pick(hospital, lambda c: city.mean_of(c) is not None and c.hospital_id == hospital)
        if case is None:
            break
        city.put(_scaled(case, _money(city.mean_of(case) * city.rng.uniform(2.0, 2.1))))
        events.append(Event("deviation_gaming", "inflated_above_threshold", hospital, (case.id,)))
    return events


MAKERS: dict[str, Callable[[_Injector, str, str], list[Event]]] = {
    "split_admission": _split, "duplicate_claim": _duplicate, "upcoding": _upcoding, "padded_procedures": _padded,
    "low_standard_admission": _low_standard, "cost_shifting": _shifting, "dumping": _dumping,
    "bed_hanging": _bed_hanging, "fake_admission": _fake,
}


# ---- scoring -------------------------------------------------------------------------------------

def precision_recall(flags: list[Flag], injected: Injected, catalogue: Catalogue | None = None) -> dict:
    """Per kind: stay flags of that kind's rules that name one of its events' stays (precision), events
    named by such a flag (recall), recall per variant; hospitals flagged against the offenders; and
    the share of untouched stays that any stay flag names."""
    catalogue = catalogue or load_catalogue()
    stay_flags = [f for f in flags if catalogue.rules[f.rule].scope == "stay"]
    owner: dict[str, set[str]] = defaultdict(set)          # case id → kinds of the events it belongs to
    for event in injected.events:
        for case_id in event.case_ids:
            owner[case_id].add(event.kind)
    named: dict[str, set[str]] = defaultdict(set)          # kind → case ids its flags name
    kinds = {}
    for kind in VARIANTS:
        mine = [f for f in stay_flags if catalogue.kind_of(f.rule) == kind]
        for flag in mine:
            named[kind].update(flag.case_ids)
        events = [e for e in injected.events if e.kind == kind]
        found = [e for e in events if set(e.case_ids) & named[kind]]
        true = [f for f in mine if any(kind in owner.get(cid, ()) for cid in f.case_ids)]
        variants = {}
        for variant in VARIANTS[kind]:
            of_variant = [e for e in events if e.variant == variant]
            hits = sum(1 for e in of_variant if set(e.case_ids) & named[kind])
            variants[variant] = {"events": len(of_variant), "found": hits,
                                 "recall": hits / len(of_variant) if of_variant else 0.0}
        hospital_flags = {f.hospital_id for f in flags
                          if catalogue.rules[f.rule].scope == "hospital" and catalogue.kind_of(f.rule) == kind}
        kinds[kind] = {"events": len(events), "flags": len(mine),
                       "precision": len(true) / len(mine) if mine else 0.0,
                       "recall": len(found) / len(events) if events else 0.0, "variants": variants,
                       "offenders": sorted(injected.offenders.get(kind, ())),
                       "hospitals_flagged": sorted(hospital_flags)}
    clean = [c.id for c in injected.cases if c.id not in owner]
    flagged = {cid for f in stay_flags for cid in f.case_ids}
    clean_flagged = sum(1 for cid in clean if cid in flagged)
    return {"kinds": kinds, "clean": {"stays": len(clean), "flagged": clean_flagged,
                                      "share": clean_flagged / len(clean) if clean else 0.0},
            "by_rule": dict(Counter(f.rule for f in flags))}


def measure(grouper: Grouper, sample: list[Case], policy: Policy, cases: int = 60_000, hospitals: int = 30,
            share: float = 0.01, seed: int = 11, fee_codes: dict[str, list[str]] | None = None,
            classifier: FeeClassifier | None = None) -> dict:
    """Precision and recall per kind and variant on a synthetic city with injected, labelled irregularities.

    The city keeps its ordinary readmissions (new related stays, some within the split window), so the
    audit must tell them from splits; norms are learned from the city before injection. With
    ``fee_codes`` (``records.synthetic.fee_code_pools``) and the ``classifier`` behind them each stay
    brings its itemised bill (``CityBills``): the bill of the stay as the city made it, before
    injection (so an operation the injector adds has no line), or the one the injector wrote for a
    stay whose days it rewrote."""
    city = synthetic_city(sample, hospitals=hospitals, cases=cases, seed=seed, patients=cases * 2)
    history = [GroupedCase(case, grouper.group(case, explain=False)) for case in city]
    auditor = Auditor.learned(policy, grouper.scheme, history)
    visits = _outside_stays(synthetic_visits(city, seed=seed), city)
    injected = inject_irregularities(city, grouper, share, seed, visits, fee_codes)
    known = {stay.case.id: stay for stay in history}
    stays = [known[c.id] if c.id in known and known[c.id].case is c
             else GroupedCase(c, grouper.group(c, explain=False)) for c in injected.cases]
    bills = CityBills(city, injected, fee_codes, seed) if fee_codes else {}
    return precision_recall(auditor.audit(stays, injected.visits, bills, classifier), injected)


class CityBills(Mapping):
    """The fee lines of each stay of an injected city, made when asked (a 60,000-stay city's bills do not
    fit in memory): the lines the injector wrote, else those of the stay as the city made it (a stay the
    injector added, as it made it), with a random stream of its own. To keep a city in minutes they carry
    the categories the checks read: exams, labs, treatment and operations by day, and the Western drugs
    that do or do not support a coded MCC/CC (an upcoded stay keeps the bill of the stay before its code)."""

    CATEGORIES = ("examination", "laboratory", "treatment", "surgery", "western_drugs")   # materials: operation day

    def __init__(self, city: list[Case], injected: Injected, fee_codes: dict[str, list[str]], seed: int):
        self.original = {case.id: case for case in city}
        self.added = {case.id: case for case in injected.cases if case.id not in self.original}
        self.written = injected.bills
        self.fee_codes = fee_codes
        self.seed = seed
        self._last: tuple[str, list[FeeLine]] = ("", [])

    def __getitem__(self, case_id: str) -> list[FeeLine]:
        if case_id in self.written:
            return self.written[case_id]
        if self._last[0] != case_id:
            case = self.original.get(case_id) or self.added[case_id]
            self._last = (case_id, synthetic_fee_lines(case, self.fee_codes, random.Random(f"{self.seed}:{case_id}"),
                                                       self.CATEGORIES))
        return self._last[1]

    def __contains__(self, case_id: object) -> bool:
        return case_id in self.written or case_id in self.original or case_id in self.added

    def __iter__(self) -> Iterator[str]:
        return iter({**self.original, **self.added})

    def __len__(self) -> int:
        return len(self.original) + len(self.added)


def _outside_stays(visits: list[OutpatientVisit], city: list[Case]) -> list[OutpatientVisit]:
    """Background visits, less those on a day their patient is in a ward (nobody is in both at once)."""
    inside: dict[str, list[tuple]] = defaultdict(list)
    for case in city:
        if case.patient_id and case.admission_date and case.discharge_date:
            inside[case.patient_id].append((case.admission_date, case.discharge_date))
    return [v for v in visits if not any(start < v.visit_date < end for start, end in inside.get(v.patient_id, ()))]
