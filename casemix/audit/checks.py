"""Stay-level audit checks (DOMAIN.md §7.2, issue 12 §3): one stay against its DRG's norms, or a
patient's stays together. Each returns flags that name the stays, carry a score in [0, 1] (0.5 at
the threshold, rising the further past it) and say in words what a reviewer can check on the bill.

One-stay checks run the same on a batch and on a single claim at submission time; checks across
stays need the patient's other stays or the hospital's batch. Thresholds come from ``AuditPolicy``.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from copy import copy
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from functools import cached_property

from casemix.audit.evidence import severity_support
from casemix.audit.norms import Norms
from casemix.grouping import GroupedCase
from casemix.policy import AuditPolicy
from casemix.records.fees import FeeClassifier, FeeLine
from casemix.records.outpatient import OutpatientVisit

MEDICAL_LETTERS = "RSTUVWXYZ"        # ADRG second letters of the medical partition
DAILY_FEES = ("bed", "nursing", "consultation")
EXAM_FEES = ("examination", "laboratory")
CARE_FEES = ("examination", "laboratory", "treatment", "surgery", "materials")   # a day of care charges one
# ICD-9-CM-3 chapters 01–86 are operations, billed as 手术费 with theatre lines; OR procedures of 87–99
# (98.5 lithotripsy, 98.0–98.2 non-operative removal of foreign bodies, 96.x …) are billed as treatment
THEATRE_CHAPTERS = range(1, 87)


@dataclass(frozen=True, slots=True)
class Flag:
    """One finding: the catalogue rule, the hospital, the records involved, a score and the evidence."""

    rule: str
    hospital_id: str
    case_ids: tuple[str, ...]
    score: float
    evidence: str


@dataclass(frozen=True)
class Context:
    """What every check reads besides the stays: thresholds, norms, the scheme's code lists, visits."""

    policy: AuditPolicy
    norms: Norms
    severity_codes: frozenset[str]
    or_procedures: frozenset[str]
    visits: list[OutpatientVisit] = field(default_factory=list)
    bills: Mapping[str, list[FeeLine]] = field(default_factory=dict)   # stay id → its fee lines, where given
    classifier: FeeClassifier | None = None                             # fee lines → charge categories
    carried: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)  # patient → MCC/CC → stays
    _worked_out: dict = field(default_factory=dict, repr=False, compare=False)  # (name, id(stays)) → (stays, value)
    _ways: dict = field(default_factory=dict, repr=False, compare=False)        # (name, id(stays)) → (stays, how)

    def patients(self, stays: list[GroupedCase]) -> dict[str, list[GroupedCase]]:
        """``by_patient(stays, RETURNING)``: the dated stays of each patient with two or more, all that a check
        across a patient's stays reads (one stay is no pair), worked out once per batch however many checks
        ask for it."""
        return self.once("patients", stays, lambda mine, _: by_patient(mine, RETURNING))

    def once(self, name: str, stays: list[GroupedCase], work_out: Callable[[list[GroupedCase], Context], object]):
        """``work_out(stays, self)``, worked out once per batch however many checks ask for it (a hospital
        signal that a stay check also reads), or the other way ``know`` was told."""
        key = (name, id(stays))
        if key not in self._worked_out:
            told = self._ways.pop(key, None)
            self._worked_out[key] = (stays, told[1]() if told else work_out(stays, self))   # the batch is kept,
        return self._worked_out[key][1]                                                   # so its id is its own

    def know(self, name: str, stays: list[GroupedCase], how: Callable[[], object]) -> None:
        """Work out what ``once(name, stays, …)`` would as ``how()`` instead, when first asked: the same value
        worked out elsewhere, sooner (in columns, ``batch.BatchScope``)."""
        self._worked_out.pop((name, id(stays)), None)
        self._ways[(name, id(stays))] = (stays, how)


def score(excess: float) -> float:
    """0.5 at the threshold, rising towards 1 the further past it."""
    return round(min(1.0, 0.5 + max(excess, 0.0) / 2), 3)


def fee_share(stay: GroupedCase, keys: Iterable[str]) -> float | None:
    """The share of the bill in these charge categories, or None for a stay without fee categories."""
    fees = stay.case.fees
    total = sum(fees.values(), Decimal(0)) if fees else Decimal(0)
    if not total:
        return None
    return float(sum((fees.get(key, Decimal(0)) for key in keys), Decimal(0)) / total)


def _medical(stay: GroupedCase) -> bool:
    return len(stay.result.adrg) > 1 and stay.result.adrg[1] in MEDICAL_LETTERS


def _hospital(stay: GroupedCase) -> str:
    return stay.case.hospital_id or ""


RETURNING = 2       # stays a patient has for a check across them to meet a pair: ``Context.patients``


def by_patient(stays: list[GroupedCase], least: int = 1) -> dict[str, list[GroupedCase]]:
    """Each patient's dated stays in admission order, for the patients with at least ``least`` of them."""
    out: dict[str, list[GroupedCase]] = defaultdict(list)
    for stay in stays:
        if stay.case.patient_id and stay.case.admission_date and stay.case.discharge_date:
            out[stay.case.patient_id].append(stay)
    for patient_stays in out.values():
        patient_stays.sort(key=lambda s: (s.case.admission_date, s.case.id))
    return out if least <= 1 else {patient: mine for patient, mine in out.items() if len(mine) >= least}


# ---- one stay -------------------------------------------------------------------------------------

class SeverityCodes(frozenset):
    """The scheme's MCC and CC codes as one set (what the norms count pairings of), knowing each code's
    level and exclusion table (表7), so a check can name the codes that put a stay into its x1 or x3 DRG
    the way the grouper decides it: an MCC code is read before a CC code, and a code whose exclusion
    table holds the principal counts for nothing."""

    def __new__(cls, mcc: Mapping[str, str], cc: Mapping[str, str],
                exclusions: Mapping[str, frozenset[str]]) -> SeverityCodes:
        codes = super().__new__(cls, {*mcc, *cc})
        codes.mcc, codes.cc, codes.exclusions = dict(mcc), dict(cc), dict(exclusions)
        return codes

    def __reduce__(self):
        return SeverityCodes, (self.mcc, self.cc, self.exclusions)

    @classmethod
    def of(cls, scheme) -> SeverityCodes:
        """From a scheme's ``mcc``, ``cc`` (code → exclusion table id) and ``exclusions`` tables."""
        return cls(scheme.mcc, scheme.cc, scheme.exclusions)

    def qualifying(self, principal: str, secondary: Iterable[str], suffix: str) -> list[str]:
        """The secondaries that earn an x1 (an MCC) or an x3 (an MCC or a CC) DRG with this principal."""
        mcc, cc, exclusions = self.mcc, None if suffix == "1" else self.cc, self.exclusions
        found = []
        for code in secondary:
            table = mcc.get(code)
            if table is None and cc is not None:
                table = cc.get(code)
            if table is not None and principal not in exclusions.get(table, ()):
                found.append(code)
        return found


def severity_codes_of(stay: GroupedCase, context: Context) -> list[str]:
    """The stay's MCC/CC codes that earn its DRG's level (all its MCC/CC codes when the context's code
    set does not know their levels)."""
    codes = context.severity_codes
    if isinstance(codes, SeverityCodes):
        return codes.qualifying(stay.result.principal_dx, stay.case.secondary_dx, stay.result.drg[-1])
    return [code for code in stay.case.secondary_dx if code in codes]


class CarriedSeverity(Mapping):
    """Per patient, each MCC/CC code of ``codes`` their stays carry (as principal or secondary) and the ids
    of the stays that carry it (in batch order), in any hospital, earlier or later: a patient's history of
    that condition. Each patient's is worked out when first asked: a check asks for the few patients of the
    stays it is about to flag, so the codes of every other patient's stays are never read. The stays are
    grouped by patient when first asked, their patient ids read from the stays or elsewhere (``patients_from``)."""

    def __init__(self, stays: Iterable[GroupedCase], codes: frozenset[str]):
        self.codes = codes
        self.batch = list(stays)
        self.patients = lambda: [stay.case.patient_id for stay in self.batch]
        self.known: dict[str, dict[str, tuple[str, ...]]] = {}

    def patients_from(self, column: Callable[[], list[str | None]]) -> None:
        """Read the stays' patient ids, in batch order, as ``column()`` (read once elsewhere)."""
        self.patients = column

    @cached_property
    def stays(self) -> dict[str, list[GroupedCase]]:
        """Each patient's stays, in batch order."""
        mine: dict[str, list[GroupedCase]] = defaultdict(list)
        for patient, stay in zip(self.patients(), self.batch, strict=True):
            if patient:
                mine[patient].append(stay)
        return mine

    def __getitem__(self, patient: str) -> dict[str, tuple[str, ...]]:
        if patient not in self.known:
            self.known[patient] = self._carried(self.stays.get(patient, ()))
        if not self.known[patient]:
            raise KeyError(patient)
        return self.known[patient]

    def __iter__(self) -> Iterator[str]:
        return (patient for patient in self.stays if patient in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def _carried(self, stays: Iterable[GroupedCase]) -> dict[str, tuple[str, ...]]:
        mine: dict[str, tuple[str, ...]] = {}
        for stay in stays:
            case = stay.case
            found = self.codes.intersection(case.secondary_dx)
            if case.principal_dx in self.codes:
                found = found | {case.principal_dx}
            for code in found:
                mine[code] = (*mine.get(code, ()), case.id)
        return mine


def history_support(stay: GroupedCase, codes: list[str], context: Context) -> dict[str, str]:
    """Each of ``codes`` that the same patient's other stay (``context.carried``) also carries, with that
    stay's id: a chronic condition on record elsewhere, not a code added to this claim."""
    carried = context.carried.get(stay.case.patient_id or "", {})
    found = {}
    for code in codes:
        others = [case_id for case_id in carried.get(code, ()) if case_id != stay.case.id]
        if others:
            found[code] = others[0]
    return found


def unsupported_severity(stay: GroupedCase, context: Context) -> Flag | None:
    """高编高套: an x1/x3 stay every one of whose qualifying MCC/CC codes (those that earn its level:
    ``severity_codes_of``) is rarely seen with its principal category in the history, and whose cost
    did not rise with them (at most ``unsupported_severity_max_ratio`` × its ADRG's x5 standard, what a
    stay without complications costs). A CC already on a stay does not hide an MCC added to it. A
    qualifying code that the same patient's other stay carries (``history_support``, given the batch's
    ``context.carried``) is history-supported: the stay earns its level and is not flagged. Given the fee
    lines, the evidence also says what the bill shows for each code (``bill_support``)."""
    case, result = stay.case, stay.result
    if result.status != "grouped" or result.drg[-1] not in "13" or not case.total_cost:
        return None
    base = context.norms.standard_cost.get(result.adrg + "5")
    codes = severity_codes_of(stay, context)
    if not base or not codes:
        return None
    policy = context.policy
    category = result.principal_dx[:3]
    seen = max(context.norms.seen_elsewhere((category, code), case.id) for code in codes)
    if seen > policy.unsupported_severity_max_pairs:
        return None
    base_ratio = float(case.total_cost / base)
    cap = policy.unsupported_severity_max_ratio
    if base_ratio > cap or history_support(stay, codes, context):
        return None
    lines = context.bills.get(case.id) if context.classifier is not None else None
    bill = f"; {bill_support(codes, lines, context)}" if lines else ""
    return Flag("unsupported_severity", _hospital(stay), (case.id,), score((cap - base_ratio) / cap),
                f"{result.drg} ({result.severity}) from {', '.join(codes)}, seen with {category} in {seen} "
                f"other stay(s) of the history; cost {base_ratio:.2f}× the {result.adrg}5 standard{bill}")


def unsupported_severity_in_batch(stays: list[GroupedCase], context: Context) -> list[Flag]:
    """高编高套 over a batch: an ``unsupported_severity`` flag at a hospital that ``signals.severity_share``
    signals (more x1/x3 stays than its peers' rates in the same ADRGs predict) names that figure beside the
    stay's own evidence and scores 0.25 higher, as two independent signals agreeing."""
    from casemix.audit.signals import severity_share_once  # signals builds on this module: imported when run

    signalled = {flag.hospital_id: flag for flag in severity_share_once(stays, context)}
    if not signalled:
        return []
    flags = []
    for stay in stays:
        if _hospital(stay) in signalled and (flag := unsupported_severity(stay, context)):
            flags.append(Flag(flag.rule, flag.hospital_id, flag.case_ids, min(1.0, flag.score + 0.25),
                              f"{flag.evidence}; {flag.hospital_id}: {signalled[flag.hospital_id].evidence}"))
    return flags


def bill_support(codes: list[str], lines: list[FeeLine], context: Context) -> str:
    """What the bill shows for each MCC/CC code, in words: the lines of the classes the support table
    (``evidence.severity_support``) lists for its condition, or their absence, with the table row."""
    table = severity_support(context.policy.severity_support_table)
    billed = Counter(context.classifier.classify(line).class_code for line in lines)
    said = []
    for code in codes:
        row = table.find(code)
        if row is None or not row.holds:
            said.append(f"{code}: no drug or lab in the support table confirms it"
                        + (f" ({row.source})" if row else ""))
            continue
        found = sum(n for class_code, n in billed.items() if class_code.startswith(row.holds))
        said.append(f"{code} ({row.name}): {found or 'no'} line(s) of {'/'.join(row.holds)} "
                    f"among the bill's {len(lines)} ({row.source})")
    return "; ".join(said)


def padded_procedures(stay: GroupedCase, context: Context) -> Flag | None:
    """虚记手术: far more procedures than the DRG's stays carry, an operation (ICD-9-CM-3 01–86) with no
    theatre bill, or (given the fee lines) an operation that no line of the bill names."""
    case, drg = stay.case, stay.result.drg
    limit = context.norms.procedure_limit.get(drg, context.norms.default_procedure_limit)
    if len(case.procedures) > limit:
        return Flag("padded_procedures", _hospital(stay), (case.id,),
                    score((len(case.procedures) - limit) / max(limit, 1)),
                    f"{len(case.procedures)} procedures; the limit for {drg} (twice its 90th percentile) is {limit}")
    operations = [code for code in case.procedures if code in context.or_procedures and _in_theatre(code)]
    if not operations:
        return None
    surgery = fee_share(stay, ("surgery",))
    cap = context.policy.padded_max_surgery_share
    if surgery is not None and surgery <= cap:
        return Flag("padded_procedures", _hospital(stay), (case.id,), score(1.0 - surgery / cap if cap else 1.0),
                    f"operation {', '.join(operations[:3])} coded (grouped {stay.result.path}) but 手术费 is "
                    f"{surgery:.1%} of the {case.total_cost} 元 bill: no theatre bill")
    billed = {line.procedure_code for line in context.bills.get(case.id, ()) if line.procedure_code}
    unbilled = [code for code in operations if code not in billed]
    if billed and unbilled:         # the bill names its operations (oprn_oprt_code), but not these
        return Flag("padded_procedures", _hospital(stay), (case.id,), score(len(unbilled) / len(operations)),
                    f"operation {', '.join(unbilled)} coded but no fee line names it; the bill's operation lines "
                    f"name {', '.join(sorted(billed))}")
    return None


def _in_theatre(code: str) -> bool:
    return code[:2].isdigit() and int(code[:2]) in THEATRE_CHAPTERS


def low_standard_admission(stay: GroupedCase, context: Context) -> Flag | None:
    """低标准入院: a short, cheap medical stay discharged on orders, billed mostly for exams and labs."""
    ratio = short_and_cheap(stay, context)
    if ratio is None:
        return None
    policy = context.policy
    exams = fee_share(stay, EXAM_FEES)
    if exams is not None and exams < policy.low_standard_min_exam_share:
        return None
    limit = policy.low_standard_max_ratio
    bill = f"; exams and labs {exams:.0%} of the bill" if exams is not None else ""
    return Flag("low_standard_admission", _hospital(stay), (stay.case.id,), score((limit - ratio) / limit),
                f"{stay.case.los_days} day(s), cost {ratio:.2f}× the {stay.result.drg} standard{bill}")


def short_and_cheap(stay: GroupedCase, context: Context) -> float | None:
    """The stay's cost ÷ standard when it is a grouped medical stay discharged on orders (离院方式 1) of at
    most ``low_standard_max_los`` days below ``low_standard_max_ratio`` of its standard, else None."""
    case, policy = stay.case, context.policy
    if (stay.result.status != "grouped" or not _medical(stay) or case.los_days is None
            or case.los_days > policy.low_standard_max_los or (case.discharge_mode or "1") != "1"):
        return None
    ratio = context.norms.ratio(stay)          # the Decimal division last: most stays are out before it
    return None if ratio is None or ratio >= policy.low_standard_max_ratio else ratio


def early_discharge(stay: GroupedCase, context: Context) -> Flag | None:
    """推诿病人: a stay in an expensive DRG ended by transfer or against advice at a fraction of its cost."""
    case, policy, norms = stay.case, context.policy, context.norms
    standard = norms.standard_cost.get(stay.result.drg)
    ratio = norms.ratio(stay)
    if (ratio is None or not standard or (case.discharge_mode or "") not in policy.dumping_discharge_modes
            or float(standard) < policy.dumping_min_relative_cost * norms.mean_standard
            or ratio > policy.dumping_max_ratio):
        return None
    return Flag("early_discharge", _hospital(stay), (case.id,),
                score((policy.dumping_max_ratio - ratio) / policy.dumping_max_ratio),
                f"discharge mode {case.discharge_mode} after {case.los_days} day(s) at {ratio:.2f}× the "
                f"{stay.result.drg} standard of {standard} 元 ({float(standard) / norms.mean_standard:.1f}× the "
                f"mean standard)")


def missing_procedures(stay: GroupedCase, context: Context) -> Flag | None:
    """服务不足: no procedure in a DRG where nearly all stays of the history have one."""
    usual = context.norms.procedure_share.get(stay.result.drg)
    floor = context.policy.missing_procedure_share
    if usual is None or usual < floor or stay.case.procedures:
        return None
    return Flag("missing_procedures", _hospital(stay), (stay.case.id,), score(usual - floor),
                f"no procedure coded; {usual:.0%} of {stay.result.drg} stays in the history have one")


def bed_hanging(stay: GroupedCase, context: Context) -> Flag | None:
    """挂床住院 from the bill. With dated fee lines: a stay longer than its DRG's usual with a run of days
    on which the bill charges no care (only bed, nursing, consultation and drugs) that lasts to discharge
    (kept on after care ended) or twice as long in mid-stay, or a bill mostly of bed and nursing. From
    the fee categories alone: a long stay costing far less per day than its DRG, mostly bed and nursing."""
    case, policy = stay.case, context.policy
    if (case.los_days or 0) < policy.bed_min_los:
        return None
    if case.id not in context.bills or context.classifier is None:
        return _bed_hanging_totals(stay, context, with_bill=False)
    usual_los = context.norms.median_los.get(stay.result.drg)
    run = (idle_days(stay, context.bills[case.id], context.classifier)
           if usual_los is not None and case.los_days > usual_los else None)
    if run is None:
        return _bed_hanging_totals(stay, context, with_bill=True)
    days, first = run
    to_discharge = first + days == case.los_days
    if (days < policy.bed_min_idle_days * (1 if to_discharge else 2)
            or case.los_days - days > policy.bed_max_busy_los_ratio * usual_los):
        return _bed_hanging_totals(stay, context, with_bill=True)
    return Flag("bed_hanging", _hospital(stay), (case.id,), score(days / policy.bed_min_idle_days - 1),
                f"{days} days in a row from {case.admission_date + timedelta(days=first)}"
                f"{' to discharge' if to_discharge else ''} with no exam, lab, treatment, operation or material "
                f"line on the bill (only bed, nursing, consultation and drugs); {case.los_days} days against the "
                f"{stay.result.drg} median of {usual_los:g}")


def idle_days(stay: GroupedCase, lines: list[FeeLine], classifier: FeeClassifier) -> tuple[int, int] | None:
    """The longest run of the stay's days on which no fee line charges care (``CARE_FEES``) and its
    first day (0 = the admission day); None when the lines carry no dates."""
    admitted, los = stay.case.admission_date, stay.case.los_days or 0
    dated = [line for line in lines if line.time]
    if admitted is None or not dated:
        return None
    busy = {(line.time.date() - admitted).days for line in dated if classifier.classify(line).category_key in CARE_FEES}
    best = (0, 0)
    start = 0
    for day in range(los + 1):
        if day == los or day in busy:
            best = max(best, (day - start, start))
            start = day + 1
    return best


def _bed_hanging_totals(stay: GroupedCase, context: Context, with_bill: bool) -> Flag | None:
    """Cost per day at most ``bed_max_day_ratio`` × the DRG's, bed, nursing and consultation at least
    ``bed_min_daily_share`` of the bill (without a bill to read by day, also at least ``bed_share_margin``
    × the DRG's 95th percentile of that share, when lower)."""
    case, policy = stay.case, context.policy
    usual = context.norms.cost_per_day.get(stay.result.drg)
    if not usual or not case.total_cost:
        return None
    per_day = float(case.total_cost) / case.los_days
    daily = fee_share(stay, DAILY_FEES)
    usual_share = context.norms.daily_share_limit.get(stay.result.drg, 1.0)
    floor = policy.bed_min_daily_share if with_bill else min(policy.bed_min_daily_share,
                                                             policy.bed_share_margin * usual_share)
    if per_day > policy.bed_max_day_ratio * usual or daily is None or daily < floor:
        return None
    return Flag("bed_hanging", _hospital(stay), (case.id,), score(1 - per_day / (policy.bed_max_day_ratio * usual)),
                f"{case.los_days} days at {per_day:.0f} 元/day against the {stay.result.drg} median of {usual:.0f}; "
                f"bed, nursing and consultation {daily:.0%} of the bill (95% of {stay.result.drg} stays: "
                f"≤ {usual_share:.0%}; limit {floor:.0%})")


ONE_STAY: dict[str, Callable[[GroupedCase, Context], Flag | None]] = {
    "unsupported_severity": unsupported_severity, "padded_procedures": padded_procedures,
    "low_standard_admission": low_standard_admission, "early_discharge": early_discharge,
    "missing_procedures": missing_procedures, "bed_hanging": bed_hanging,
}


# ---- across stays ---------------------------------------------------------------------------------

def split_admissions(stays: list[GroupedCase], context: Context) -> list[Flag]:
    """分解住院: back at the same hospital within the window for a related principal (``_relation``),
    the two stays one episode's worth of care (``_split``). A pair is flagged on its own evidence when it
    is strong (back within days, neither stay a whole episode, the two together about as long and as
    dear as one stay of the DRG, or a work-up stay before the operation), and on weaker evidence at a
    hospital whose rate of such readmissions is well above its level peers' (``readmission_excess``): one
    cheap short pair is ambiguous, a hospital readmitting far more than its peers is not. Planned series
    are exempt: the policy's chemotherapy and radiotherapy ADRGs and principals (Z51, where a bureau
    lists it); so is a pair that looks like one stay claimed twice (left to ``duplicate_claims``)."""
    pairs = context.once("split_candidates", stays, split_candidates)
    excess = readmission_excess(pairs, context.once("hospital_volumes", stays, hospital_volumes), context)
    return [flag for first, then, gap, relation in pairs
            if (flag := _split(first, then, gap, relation, excess.get(_hospital(first)), context))]


def split_candidates(stays: list[GroupedCase], context: Context) -> list[tuple[GroupedCase, GroupedCase, int, str]]:
    """Each (first stay, readmission, gap in days, relation in words) at one hospital within the window
    with related principals, planned series and look-alike duplicates left out."""
    return split_pairs(context.patients(stays).values(), context.policy)


def split_pairs(patients: Iterable[list[GroupedCase]], policy: AuditPolicy) \
        -> list[tuple[GroupedCase, GroupedCase, int, str]]:
    """``split_candidates`` among each patient's dated stays (in admission order)."""
    pairs = []
    exempt = tuple(policy.split_exempt_adrg_prefixes) or ("\0",)
    planned = tuple(policy.split_exempt_principals) or ("\0",)
    for patient_stays in patients:
        for i, first in enumerate(patient_stays):
            for then in patient_stays[i + 1:]:
                gap = (then.case.admission_date - first.case.discharge_date).days
                if gap > policy.split_window_days:
                    break
                if (gap < 0 or then.case.hospital_id != first.case.hospital_id
                        or first.result.adrg.startswith(exempt) or then.result.adrg.startswith(exempt)
                        or first.case.principal_dx.startswith(planned) or then.case.principal_dx.startswith(planned)
                        or _looks_duplicate(first, then, policy)):
                    continue
                relation = _relation(first, then, gap)
                if relation:
                    pairs.append((first, then, gap, relation))
    return pairs


@dataclass(frozen=True, slots=True)
class Excess:
    """A hospital's related readmissions within the split window per 1,000 stays, against its peers'."""

    pairs: int
    rate: float
    peer_rate: float
    peers: str

    def said(self, hospital: str) -> str:
        times = f"{self.rate / self.peer_rate:.1f}× " if self.peer_rate else ""
        return (f"{hospital} has {self.rate:.1f} such readmissions per 1,000 stays ({self.pairs} pairs), "
                f"{times}the median of its {self.peers} ({self.peer_rate:.1f})")


def hospital_volumes(stays: list[GroupedCase], context: Context) -> tuple[dict[str, int], dict[str, str]]:
    """Each hospital's stays (no hospital counted as ""), hospitals in the order of their first, and its level
    (that of its last stay)."""
    hospitals = [stay.case.hospital_id or "" for stay in stays]
    return dict(Counter(hospitals)), dict(zip(hospitals, [stay.case.hospital_level or "" for stay in stays]))


def readmission_excess(pairs: list[tuple[GroupedCase, GroupedCase, int, str]],
                       volumes: tuple[dict[str, int], dict[str, str]], context: Context) -> dict[str, Excess]:
    """Hospitals whose candidate pairs per 1,000 stays (``volumes``: each hospital's stays and level) are at
    least ``split_hospital_excess_ratio`` × the median of their level peers' (all other hospitals where a
    level has too few), with at least ``split_hospital_min_pairs`` pairs; hospitals under ``peer_min_cases``
    stays are neither judged nor peers."""
    policy = context.policy
    volume, level = volumes
    counted = Counter(_hospital(first) for first, *_ in pairs)
    rates = {h: 1000 * counted[h] / n for h, n in volume.items() if n >= policy.peer_min_cases}
    out = {}
    for hospital, rate in rates.items():
        peers = [r for h, r in rates.items() if h != hospital and level[h] == level[hospital]]
        label = f"{level[hospital] or 'same-level'} peers"
        if len(peers) < policy.peer_min_hospitals:
            peers, label = [r for h, r in rates.items() if h != hospital], "other hospitals"
        if len(peers) < policy.peer_min_hospitals or counted[hospital] < policy.split_hospital_min_pairs:
            continue
        peer_rate = statistics.median(peers)
        if rate >= policy.split_hospital_excess_ratio * peer_rate:
            out[hospital] = Excess(counted[hospital], rate, peer_rate, label)
    return out


def _looks_duplicate(first: GroupedCase, then: GroupedCase, policy: AuditPolicy) -> bool:
    """One stay claimed twice, not a split: admitted within the duplicate check's date slack, the same
    principal and length, costs within its tolerance."""
    a, b = first.case, then.case
    return ((b.admission_date - a.admission_date).days <= policy.duplicate_date_slack_days
            and a.principal_dx == b.principal_dx and a.los_days == b.los_days and bool(a.total_cost and b.total_cost)
            and abs(a.total_cost - b.total_cost) <= Decimal(repr(policy.duplicate_cost_tolerance))
            * max(a.total_cost, b.total_cost))


def _split(first: GroupedCase, then: GroupedCase, gap: int, relation: str, excess: Excess | None,
           context: Context) -> Flag | None:
    norms, policy = context.norms, context.policy
    known = [norms.standard_cost.get(s.result.drg) for s in (first, then)]
    if not any(known) or not first.case.total_cost or not then.case.total_cost:
        return None
    standards = [standard or max(filter(None, known)) for standard in known]    # one episode: the other's standard
    larger = max(standards)
    combined = float((first.case.total_cost + then.case.total_cost) / larger)
    first_ratio = float(first.case.total_cost / standards[0])
    second_ratio = float(then.case.total_cost / standards[1])
    exams = fee_share(first, EXAM_FEES)
    work_up = (exams is not None and exams >= policy.low_standard_min_exam_share
               and not _operated(first, context) and _operated(then, context))
    usual_los = norms.median_los.get(first.result.drg)
    cut_short = usual_los is None or (first.case.los_days or 0) <= policy.split_first_max_los_ratio * usual_los
    halves = (first_ratio <= policy.split_first_max_ratio and second_ratio <= policy.split_second_max_ratio
              and cut_short)
    one_length = _one_length(first, then, norms, policy)
    strong = (gap <= policy.split_strong_max_gap_days and combined <= policy.split_max_combined_ratio
              and (work_up or halves and one_length is not None))
    weak = excess is not None and combined <= policy.split_excess_max_combined_ratio
    if not (strong or weak):
        return None
    cap = policy.split_excess_max_combined_ratio if excess and not strong else policy.split_max_combined_ratio
    how = [f"a work-up stay (exams and labs {exams:.0%} of its bill) before the operation" if work_up
           else f"the stays {first_ratio:.2f}× and {second_ratio:.2f}× their standards, the first "
                f"{first.case.los_days} day(s)" + (f" against a median of {usual_los:g}" if usual_los else "")]
    if one_length is not None:
        how.append(one_length)
    if excess is not None:
        how.append(excess.said(_hospital(first)))
    return Flag("split_admission", _hospital(first), (first.case.id, then.case.id),
                score((cap - combined) / cap + (0.2 if strong and excess else 0.0)),
                f"readmitted {gap} day(s) after discharge ({first.case.discharge_date} → "
                f"{then.case.admission_date}), {relation}; together {combined:.2f}× the larger DRG standard "
                f"({larger} 元); {'; '.join(how)}")


def _one_length(first: GroupedCase, then: GroupedCase, norms: Norms, policy: AuditPolicy) -> str | None:
    """In words, when the two stays together last no longer than ``split_max_combined_los_ratio`` × the
    longer of their DRGs' median stays (one episode's length), or no median is known; else None."""
    medians = [m for m in (norms.median_los.get(first.result.drg), norms.median_los.get(then.result.drg)) if m]
    days = (first.case.los_days or 0) + (then.case.los_days or 0)
    if not medians:
        return f"{days} day(s) in all (no median stay known for {first.result.drg})"
    if days > policy.split_max_combined_los_ratio * max(medians):
        return None
    return f"{days} day(s) in all against a median stay of {max(medians):g}"


def _relation(first: GroupedCase, then: GroupedCase, gap: int) -> str:
    a, b = first.result.principal_dx or first.case.principal_dx, then.result.principal_dx or then.case.principal_dx
    if a == b:
        return f"same principal {a}"
    if a[:3] == b[:3]:
        return f"principals {a} and {b} in category {a[:3]}"
    if b in first.case.secondary_dx or a in then.case.secondary_dx:
        return f"principal {b} was a secondary of the other stay"
    if first.result.mdc and first.result.mdc == then.result.mdc and gap <= 1:
        return f"both in {first.result.mdc}, {gap} day(s) apart: a transfer between wards"
    return ""


def _operated(stay: GroupedCase, context: Context) -> bool:
    return any(code in context.or_procedures for code in stay.case.procedures)


def duplicate_claims(stays: list[GroupedCase], context: Context) -> list[Flag]:
    """重复结算: two claims for one stay at one hospital, dates within a day or so, the same principal,
    costs within a few percent and most codes in common (copied, then shifted or tweaked)."""
    policy, flags = context.policy, []
    slack = timedelta(days=policy.duplicate_date_slack_days)
    for patient_stays in context.patients(stays).values():
        for i, first in enumerate(patient_stays):
            for then in patient_stays[i + 1:]:
                if then.case.admission_date - first.case.admission_date > slack:
                    break
                if (then.case.hospital_id == first.case.hospital_id
                        and abs(then.case.discharge_date - first.case.discharge_date) <= slack):
                    flag = _duplicate(first, then, policy)
                    if flag:
                        flags.append(flag)
    return flags


def _duplicate(first: GroupedCase, then: GroupedCase, policy: AuditPolicy) -> Flag | None:
    a, b = first.case, then.case
    if a.principal_dx != b.principal_dx or not a.total_cost or not b.total_cost:
        return None
    difference = abs(float(a.total_cost - b.total_cost)) / float(max(a.total_cost, b.total_cost))
    codes_a, codes_b = {a.principal_dx, *a.secondary_dx}, {b.principal_dx, *b.secondary_dx}
    overlap = len(codes_a & codes_b) / min(len(codes_a), len(codes_b))
    if difference > policy.duplicate_cost_tolerance or overlap < policy.duplicate_min_secondary_overlap:
        return None
    closeness = 1 - difference / policy.duplicate_cost_tolerance if policy.duplicate_cost_tolerance else 1.0
    return Flag("duplicate_claim", _hospital(first), (a.id, b.id), score(closeness),
                f"two claims for patient {a.patient_id}: admitted {a.admission_date} / {b.admission_date}, "
                f"discharged {a.discharge_date} / {b.discharge_date}, principal {a.principal_dx}, costs "
                f"{a.total_cost} / {b.total_cost} 元 ({difference:.1%} apart), {overlap:.0%} of codes shared")


def cost_shifting(stays: list[GroupedCase], context: Context) -> list[Flag]:
    """转嫁费用: outpatient spending at the same hospital just before admission or after discharge, large
    against the stay, while the stay itself costs below its DRG standard."""
    policy = context.policy
    visits: dict[tuple[str, str], list[OutpatientVisit]] = defaultdict(list)
    for visit in context.visits:
        visits[(visit.patient_id, visit.hospital_id)].append(visit)
    window = timedelta(days=policy.shift_window_days)
    floor = Decimal(repr(policy.shift_min_amount))
    flags = []
    for stay in stays:
        c = stay.case
        near = [v for v in visits.get((c.patient_id or "", c.hospital_id or ""), ())
                if c.admission_date and c.discharge_date
                and (c.admission_date - window <= v.visit_date < c.admission_date
                     or c.discharge_date < v.visit_date <= c.discharge_date + window)]
        moved = sum((v.total_cost for v in near), Decimal(0))
        ratio = context.norms.ratio(stay)
        if not near or not c.total_cost or moved < floor or ratio is None or ratio > policy.shift_max_ratio:
            continue
        share = float(moved / c.total_cost)
        if share >= policy.shift_min_share:
            flags.append(Flag("cost_shifting", _hospital(stay), (c.id, *(v.id for v in near)),
                              score(share - policy.shift_min_share),
                              f"{len(near)} outpatient visit(s) within {policy.shift_window_days} days of the stay "
                              f"cost {moved} 元, {share:.0%} of the stay's {c.total_cost} 元; the stay is "
                              f"{ratio:.2f}× its {stay.result.drg} standard"))
    return flags


def early_discharge_readmitted(stays: list[GroupedCase], context: Context) -> list[Flag]:
    """推诿病人 with its sequel: an early discharge (``early_discharge``) followed by a stay at another
    hospital within days; the flag names both stays and scores higher."""
    policy, flags = context.policy, []
    for patient_stays in context.patients(stays).values():
        for i, first in enumerate(patient_stays):
            found = early_discharge(first, context)
            if not found:
                continue
            later = [s for s in patient_stays[i + 1:] if s.case.hospital_id != first.case.hospital_id
                     and 0 <= (s.case.admission_date - first.case.discharge_date).days
                     <= policy.dumping_readmission_days]
            if later:
                flags.append(Flag("early_discharge", found.hospital_id, (*found.case_ids, later[0].case.id),
                                  min(1.0, found.score + 0.25),
                                  f"{found.evidence}; admitted to {later[0].case.hospital_id} "
                                  f"{(later[0].case.admission_date - first.case.discharge_date).days} day(s) later"))
    return flags


def bed_hanging_elsewhere(stays: list[GroupedCase], context: Context) -> list[Flag]:
    """挂床住院 from the patient's movements: seen at another hospital's clinic while in the ward."""
    visits: dict[str, list[OutpatientVisit]] = defaultdict(list)
    for visit in context.visits:
        visits[visit.patient_id].append(visit)
    flags = []
    for stay in stays:
        c = stay.case
        if not c.patient_id or not c.admission_date or not c.discharge_date:
            continue
        away = [v for v in visits.get(c.patient_id, ()) if v.hospital_id != c.hospital_id
                and c.admission_date < v.visit_date < c.discharge_date]
        if away:
            flags.append(Flag("bed_hanging", _hospital(stay), (c.id, *(v.id for v in away)), 0.9,
                              f"while in {c.hospital_id} ({c.admission_date} → {c.discharge_date}) seen at "
                              + ", ".join(f"{v.hospital_id}'s clinic on {v.visit_date}" for v in away)))
    return flags


def fake_admissions(stays: list[GroupedCase], context: Context) -> list[Flag]:
    """虚假住院: templated batches at one hospital, and stays overlapping the patient's stay elsewhere."""
    return [*_templated_batches(stays, context.policy), *_overlaps(stays, context)]


def _templated_batches(stays: list[GroupedCase], policy: AuditPolicy) -> list[Flag]:
    groups: dict[tuple[str, str], list[GroupedCase]] = defaultdict(list)
    for stay in stays:
        if stay.case.admission_date and stay.case.total_cost:
            groups[(_hospital(stay), stay.case.principal_dx)].append(stay)
    window = timedelta(days=policy.fake_batch_window_days)
    flags = []
    for (hospital, principal), members in groups.items():
        if len(members) < policy.fake_batch_min_stays:
            continue
        members.sort(key=lambda s: (s.case.admission_date, s.case.id))
        used: set[str] = set()
        for i, anchor in enumerate(members):
            if anchor.case.id in used:
                continue
            cost = anchor.case.total_cost
            batch = []
            for stay in members[i:]:                # in admission order: stop past the window
                if stay.case.admission_date - anchor.case.admission_date > window:
                    break
                if stay.case.id not in used and abs(float(stay.case.total_cost / cost) - 1) <= \
                        policy.fake_batch_cost_tolerance:
                    batch.append(stay)
            if len(batch) >= policy.fake_batch_min_stays:
                used.update(s.case.id for s in batch)
                flags.append(Flag("fake_admission", hospital, tuple(s.case.id for s in batch),
                                  score(len(batch) / policy.fake_batch_min_stays - 1),
                                  f"{len(batch)} stays with principal {principal} admitted "
                                  f"{batch[0].case.admission_date} → {batch[-1].case.admission_date}, costs within "
                                  f"{policy.fake_batch_cost_tolerance:.0%} of {cost} 元: a template"))
    return flags


def _overlaps(stays: list[GroupedCase], context: Context) -> list[Flag]:
    policy, flags = context.policy, []
    for patient, patient_stays in context.patients(stays).items():
        for i, first in enumerate(patient_stays):
            for then in patient_stays[i + 1:]:
                if then.case.admission_date >= first.case.discharge_date:
                    break
                days = (min(first.case.discharge_date, then.case.discharge_date) - then.case.admission_date).days
                if then.case.hospital_id != first.case.hospital_id and days >= policy.fake_overlap_min_days:
                    flags.append(Flag("fake_admission", _hospital(then), (then.case.id, first.case.id), 0.9,
                                      f"patient {patient} in {then.case.hospital_id} from {then.case.admission_date} "
                                      f"while in {first.case.hospital_id} {first.case.admission_date} → "
                                      f"{first.case.discharge_date}: {days} day(s) in two hospitals at once"))
    return flags


def low_standard_hospitals(stays: list[GroupedCase], context: Context) -> list[Flag]:
    """低标准入院 from the hospital's pattern, whatever the bill looks like. Short, cheap medical stays
    (``short_and_cheap``; a stay with the patient's other stay at the same hospital within the split
    window is left to the split rule) are counted at each hospital against what its same-level peers'
    rates predict for its own mix of DRGs (indirect standardisation: expected = Σ over its medical stays
    of the peers' rate in that DRG, shrunk towards the level's rate by ``norm_min_cases`` stays). At a
    hospital with ``peer_z`` more than expected (Poisson), the excess rate q = (observed − expected) ÷ its
    medical stays is the chance a medical stay was admitted below standard on top of the peers' habit; a
    short cheap stay in a DRG whose peer rate is r is one of the excess with probability q ÷ (q + r).
    Stays at or above ``low_standard_min_excess_probability`` are flagged, naming the DRG's rate and the
    hospital's counts."""
    policy = context.policy
    pattern, pattern_stays, everyone = context.once("short_cheap_medical", stays, short_cheap_medical)
    short_cheap: dict[str, list[GroupedCase]] = defaultdict(list)       # hospital → its stays named in pattern
    for stay in pattern_stays:
        short_cheap[stay.case.hospital_id].append(stay)
    outliers = {hospital for hospital, (_, count) in everyone.own.items()
                if _excess(hospital, count, short_cheap[hospital], everyone, policy) is not None}
    rates = everyone.without(outliers)
    flags = []
    floor = policy.low_standard_min_excess_probability
    for hospital, (_, count) in everyone.own.items():
        mine = short_cheap[hospital]
        expected = _excess(hospital, count, mine, rates, policy)
        if expected is None:
            continue
        excess = (len(mine) - expected) / count
        for stay in mine:
            peer_rate = rates.rate(stay)
            chance = excess / (excess + peer_rate)
            if chance >= floor:
                flags.append(Flag(
                    "low_standard_admission", hospital, (stay.case.id,), score((chance - floor) / (1 - floor)),
                    f"{stay.case.los_days} day(s), cost {pattern[stay.case.id]:.2f}× the {stay.result.drg} "
                    f"standard, discharged on orders; {peer_rate:.1%} of {stay.result.drg} stays at "
                    f"{stay.case.hospital_level or 'same-level'} peers are this short and cheap; {hospital} has "
                    f"{len(mine)} such stays of {count} medical stays against {expected:.1f} expected from its "
                    f"peers' rates for its DRGs{_left_out(outliers - {hospital})}: one of the excess with "
                    f"probability {chance:.2f}"))
    return flags


def short_cheap_medical(stays: list[GroupedCase], context: Context) \
        -> tuple[dict[str, float], list[GroupedCase], PeerRates]:
    """Of the batch's grouped medical stays at a hospital: the short cheap ones (``short_and_cheap``, less
    those readmitted within the split window) as id → cost ÷ standard, the stays with those ids (batch
    order), and each DRG's rate of them at each level (``PeerRates``)."""
    policy = context.policy
    medical = [stay for stay in stays if stay.result.status == "grouped" and len(adrg := stay.result.adrg) > 1
               and adrg[1] in MEDICAL_LETTERS and stay.case.hospital_id]
    readmitted = _readmitted_within(stays, context, policy.split_window_days)
    pattern = {stay.case.id: ratio for stay in medical if stay.case.id not in readmitted
               and (ratio := short_and_cheap(stay, context)) is not None}
    return (pattern, [stay for stay in medical if stay.case.id in pattern],
            PeerRates.of(medical, pattern, policy.norm_min_cases))


def _excess(hospital: str, medical: int, mine: list[GroupedCase], rates: PeerRates,
            policy: AuditPolicy) -> float | None:
    """The count of short cheap stays (``mine``) its peers' rates predict for a hospital, when it has at least
    ``peer_min_cases`` medical stays and more than ``peer_z`` × √expected too many; else None."""
    expected = rates.expected(hospital)
    if medical < policy.peer_min_cases or len(mine) - expected <= policy.peer_z * expected ** 0.5:
        return None
    return expected


def _left_out(hospitals: set[str]) -> str:
    return f" (peers with an excess of their own left out: {', '.join(sorted(hospitals))})" if hospitals else ""


class PeerRates:
    """Each DRG's (or ``cell``'s: an ADRG …) rate of pattern stays at a hospital's same-level peers (all the
    other stays of that level, less those of the ``left_out`` hospitals: ``without``), shrunk towards the
    level's overall rate by ``prior`` stays so that a DRG seldom seen is not a zero. ``rate(stay)`` is what a
    peer would have done with that stay: summed over a hospital's stays (``expected``), the count its peers'
    habits predict. ``own``: each hospital's [pattern stays, stays], hospitals in the order of their first
    stay."""

    def __init__(self, every: Mapping[tuple[str, str, str], list[int]], prior: int,
                 cell: Callable[[GroupedCase], str] | None = None):
        """From ``every`` (level, cell, hospital) → [pattern stays, stays], in the order the stays meet them."""
        self.prior = prior
        self.cell = cell or (lambda stay: stay.result.drg)
        self.every = dict(every)
        self.mix: dict[str, list[tuple[tuple[str, str, str], int]]] = defaultdict(list)   # hospital → its cells
        self.own: dict[str, list[int]] = defaultdict(lambda: [0, 0])                      # hospital → its tally
        for key, (hits, count) in self.every.items():   # each hospital's cells in the order its stays meet them
            self.mix[key[2]].append((key, count))
            self.own[key[2]][0] += hits
            self.own[key[2]][1] += count
        self._sum(frozenset())

    @classmethod
    def of(cls, stays: list[GroupedCase], pattern: Mapping[str, object] | set[str], prior: int,
           cell: Callable[[GroupedCase], str] | None = None) -> PeerRates:
        """The rates of the stays whose ids are in ``pattern`` among ``stays``, by DRG (or ``cell``)."""
        every: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])   # (level, cell, hospital)
        cell_of = cell or (lambda stay: stay.result.drg)
        for stay in stays:
            case = stay.case
            tally = every[(case.hospital_level or "", cell_of(stay), case.hospital_id or "")]
            tally[0] += case.id in pattern
            tally[1] += 1
        return cls(every, prior, cell)

    def without(self, left_out: set[str] | frozenset[str]) -> PeerRates:
        """These rates with the stays of the ``left_out`` hospitals no one's peers (their own mix still known)."""
        rates = copy(self)
        rates._sum(frozenset(left_out))
        return rates

    def _sum(self, left_out: frozenset[str]) -> None:
        """The peers' tallies: each (level, cell, hospital) and the coarser ones summed from it, less
        ``left_out``; the rates worked out afresh."""
        self.cells = {key: tally for key, tally in self.every.items() if key[2] not in left_out}
        self.levels: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])        # (level, cell)
        self.overall: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])       # (level, "")
        self.hospitals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])     # (level, hospital)
        for (level, group, hospital), (hits, count) in self.cells.items():
            for tally in (self.levels[(level, group)], self.overall[(level, "")], self.hospitals[(level, hospital)]):
                tally[0] += hits
                tally[1] += count
        self.known: dict[tuple[str, str, str], float] = {}                                  # rates worked out

    def level(self, hospital: str) -> str:
        """The level of the hospital's first stay."""
        return self.mix[hospital][0][0][0]

    def rate(self, stay: GroupedCase) -> float:
        """The peers' rate for this stay's DRG (or cell) at its hospital's level."""
        return self._rate((stay.case.hospital_level or "", self.cell(stay), _hospital(stay)))

    def expected(self, hospital: str) -> float:
        """Σ ``rate`` over the hospital's stays: how many pattern stays the peers' habits predict for them."""
        return sum(count * self._rate(key) for key, count in self.mix.get(hospital, ()))

    def _rate(self, key: tuple[str, str, str]) -> float:
        if key not in self.known:
            level, group, hospital = key
            hits, count = self._peers(self.levels, (level, group), self.cells, key)
            all_hits, all_count = self._peers(self.overall, (level, ""), self.hospitals, (level, hospital))
            base = all_hits / all_count if all_count else 0.0
            self.known[key] = (hits + self.prior * base) / (count + self.prior)
        return self.known[key]

    @staticmethod
    def _peers(tallies: Mapping, key: tuple, own_tallies: Mapping, own_key: tuple) -> tuple[int, int]:
        """A tally less the hospital's own part of it."""
        both, own = tallies.get(key, (0, 0)), own_tallies.get(own_key, (0, 0))
        return both[0] - own[0], both[1] - own[1]


def _readmitted_within(stays: list[GroupedCase], context: Context, days: int) -> set[str]:
    """Ids of stays followed or preceded by the same patient's next or previous stay at the same hospital
    within ``days``."""
    near = set()
    for patient_stays in context.patients(stays).values():
        for first, then in zip(patient_stays, patient_stays[1:]):
            if (then.case.hospital_id == first.case.hospital_id
                    and (then.case.admission_date - first.case.discharge_date).days <= days):
                near.update((first.case.id, then.case.id))
    return near


SUPERSEDED_BY = {"low_standard_admission": "split_admission"}
"""A stay flagged by the value's rule is not also flagged by the key's: a short, exam-heavy stay that the
split rule pairs with the patient's next stay (a work-up stay before the operation, half of one episode)
is explained by that episode, and the split flag, naming both stays and the money claimed twice, is the
finding a reviewer can act on; a low-standard flag would claim the same stay's money a second time."""


def superseded(flags: list[Flag]) -> list[Flag]:
    """``flags`` less those ``SUPERSEDED_BY`` another rule's flag naming the same stay."""
    named = defaultdict(set)
    for flag in flags:
        named[flag.rule].update(flag.case_ids)
    return [flag for flag in flags if not (flag.rule in SUPERSEDED_BY and flag.case_ids
                                           and flag.case_ids[0] in named[SUPERSEDED_BY[flag.rule]])]


ACROSS_STAYS: dict[str, Callable[[list[GroupedCase], Context], list[Flag]]] = {
    "split_admission": split_admissions, "duplicate_claim": duplicate_claims, "cost_shifting": cost_shifting,
    "early_discharge": early_discharge_readmitted, "bed_hanging": bed_hanging_elsewhere,
    "fake_admission": fake_admissions, "low_standard_admission": low_standard_hospitals,
    "unsupported_severity": unsupported_severity_in_batch,
}
