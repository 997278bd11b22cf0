"""Intelligent audit (智能审核) over submitted cases and across cases (DOMAIN.md §7).

Case rules look at one stay or at a patient's stays together; hospital signals compare a hospital
with its level peers. Every flag carries the records involved, the numbers behind it and a score
in [0, 1] (how far past the threshold), so a reviewer can sort and check.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from casemix.grouping import GroupedCase, GroupResult
from casemix.policy import AuditPolicy, Policy
from casemix.records import Case
from casemix.records.outpatient import OutpatientVisit
from casemix.schemes import Scheme
from casemix.settlement import Standards
from casemix.weights import WeightCalibrator

RULES = {
    "split_admission": "分解住院 / split admission",
    "duplicate_claim": "重复结算 / duplicate claim",
    "unsupported_severity": "高套：合并症无资源消耗支持 / MCC or CC without matching resource use",
    "low_standard_admission": "低标准入院 / low-standard admission",
    "padded_procedures": "虚增手术操作 / padded procedures",
    "missing_procedures": "手术操作缺失 / no procedure where the DRG's cases nearly always have one",
    "cost_shifting": "费用转移至门诊 / costs shifted to outpatient visits around the stay",
    "severity_share": "高套信号：伴合并症病例占比高于同级 / severity share above level peers",
    "cmi_peer": "高套信号：CMI高于同级 / case-mix index above level peers",
    "threshold_bunching": "费用堆积于高倍率界值之上 / costs bunched just above the high-cost threshold",
}


MEDICAL_LETTERS = "RSTUVWXYZ"        # ADRG second letters of the medical partition


@dataclass(frozen=True, slots=True)
class Flag:
    rule: str
    hospital_id: str
    case_ids: tuple[str, ...]
    score: float
    evidence: str

    @property
    def title(self) -> str:
        return RULES[self.rule]


@dataclass(frozen=True, slots=True)
class _Stay:
    case: Case
    result: GroupResult


def _score(excess: float) -> float:
    """0.5 at the threshold, rising towards 1 the further past it."""
    return round(min(1.0, 0.5 + max(excess, 0.0) / 2), 3)


class Auditor:
    def __init__(self, policy: AuditPolicy, standard_cost: dict[str, Decimal], severity_codes: frozenset[str]):
        self.policy = policy
        self.standard_cost = standard_cost
        self._severity_codes = severity_codes       # the scheme's MCC and CC codes

    @classmethod
    def learned(cls, policy: Policy, scheme: Scheme, cases: list[Case], results: list[GroupResult]) -> Auditor:
        """An auditor whose DRG standards are learned from ``cases`` (the history) under ``policy``."""
        weights = WeightCalibrator(policy.weights).fit_grouped([GroupedCase(c, r) for c, r in zip(cases, results)])
        return cls(policy.audit, Standards.of(weights).standard_cost, frozenset(scheme.mcc) | frozenset(scheme.cc))

    def audit(self, cases: list[Case], results: list[GroupResult],
              outpatient: list[OutpatientVisit] | None = None) -> list[Flag]:
        stays = [_Stay(c, r) for c, r in zip(cases, results, strict=True)]
        pairs = Counter((s.result.principal_dx[:3], code) for s in stays for code in s.case.secondary_dx
                        if code in self._severity_codes)
        flags = [*self._split_admissions(stays), *self._duplicates(stays)]
        for stay in stays:
            flags.extend(self._case_rules(stay, pairs))
        flags.extend(self._padded(stays))
        flags.extend(self._missing(stays))
        flags.extend(self._cost_shifting(stays, outpatient or []))
        flags.extend(self._severity_share(stays))
        flags.extend(self._cmi(stays))
        flags.extend(self._bunching(stays))
        return flags

    # ---- across a patient's stays ------------------------------------------------------------------

    def _split_admissions(self, stays: list[_Stay]) -> list[Flag]:
        window = self.policy.split_window_days
        exempt = tuple(self.policy.split_exempt_adrg_prefixes)
        by_patient: dict[str, list[_Stay]] = defaultdict(list)
        for stay in stays:
            if stay.case.patient_id and stay.case.admission_date and stay.case.discharge_date:
                by_patient[stay.case.patient_id].append(stay)
        flags = []
        for patient_stays in by_patient.values():
            patient_stays.sort(key=lambda s: (s.case.admission_date, s.case.id))
            for i, first in enumerate(patient_stays):
                for then in patient_stays[i + 1:]:
                    gap = (then.case.admission_date - first.case.discharge_date).days
                    if gap > window:
                        break
                    adrg = first.result.adrg
                    if (gap < 0 or not adrg or adrg != then.result.adrg or adrg.startswith(exempt)
                            or first.case.admission_date == then.case.admission_date):
                        continue
                    flags.append(Flag("split_admission", first.case.hospital_id or "", (first.case.id, then.case.id),
                                      _score((window - gap) / window),
                                      f"readmitted in {adrg} {gap} days after discharge "
                                      f"({first.case.discharge_date} → {then.case.admission_date})"))
        return flags

    def _duplicates(self, stays: list[_Stay]) -> list[Flag]:
        seen: dict[tuple, list[str]] = defaultdict(list)
        for stay in stays:
            c = stay.case
            if c.patient_id and c.admission_date:
                seen[(c.patient_id, c.hospital_id, c.admission_date, c.discharge_date)].append(c.id)
        return [Flag("duplicate_claim", key[1] or "", tuple(ids), 1.0,
                     f"{len(ids)} claims for patient {key[0]} admitted {key[2]}")
                for key, ids in seen.items() if len(ids) > 1]

    # ---- one stay ----------------------------------------------------------------------------------

    def _case_rules(self, stay: _Stay, pairs: Counter) -> list[Flag]:
        case, result = stay.case, stay.result
        standard = self.standard_cost.get(result.drg)
        if result.status != "grouped" or not standard or not case.total_cost:
            return []
        flags = []
        ratio = float(case.total_cost / standard)
        limit = self.policy.low_standard_max_ratio
        medical = len(result.adrg) > 1 and result.adrg[1] in MEDICAL_LETTERS
        if (medical and case.los_days is not None and case.los_days <= self.policy.low_standard_max_los
                and ratio < limit and (case.discharge_mode or "1") == "1"):
            flags.append(Flag("low_standard_admission", case.hospital_id or "", (case.id,),
                              _score((limit - ratio) / limit),
                              f"{case.los_days} days, cost {ratio:.2f}× the {result.drg} standard"))
        if result.drg[-1] in "13":
            flags.extend(self._unsupported_severity(stay, pairs))
        return flags

    def _unsupported_severity(self, stay: _Stay, pairs: Counter) -> list[Flag]:
        """An x1/x3 case whose every MCC/CC is rarely seen with its principal, at the cost of an x5 case.

        ``pairs`` counts (principal category, MCC/CC code) over the whole batch."""
        case, result = stay.case, stay.result
        base = self.standard_cost.get(result.adrg + "5")
        severity_codes = [c for c in case.secondary_dx if c in self._severity_codes]
        if not base or not severity_codes:
            return []
        base_ratio = float(case.total_cost / base)
        cap = self.policy.unsupported_severity_max_ratio
        category = result.principal_dx[:3]
        seen = max(pairs[(category, code)] for code in severity_codes)
        if base_ratio > cap or seen > self.policy.unsupported_severity_max_pairs:
            return []
        return [Flag("unsupported_severity", case.hospital_id or "", (case.id,), _score((cap - base_ratio) / cap),
                     f"{result.drg} ({result.severity}) from {', '.join(severity_codes)}, seen with {category} "
                     f"in {seen} case(s); cost {base_ratio:.2f}× the {result.adrg}5 standard")]

    def _padded(self, stays: list[_Stay]) -> list[Flag]:
        counts: dict[str, list[int]] = defaultdict(list)
        for stay in stays:
            counts[stay.result.drg].append(len(stay.case.procedures))
        overall = _quantile([n for values in counts.values() for n in values], 0.9)
        limits = {drg: max(self.policy.padded_min_procedures,
                           2 * (_quantile(values, 0.9) if len(values) >= 20 else overall))
                  for drg, values in counts.items()}
        return [Flag("padded_procedures", s.case.hospital_id or "", (s.case.id,),
                     _score((len(s.case.procedures) - limits[s.result.drg]) / max(limits[s.result.drg], 1)),
                     f"{len(s.case.procedures)} procedures; the limit for {s.result.drg} (twice its 90th "
                     f"percentile, or the batch's for a DRG under 20 cases) is {limits[s.result.drg]}")
                for s in stays if len(s.case.procedures) > limits[s.result.drg]]

    def _missing(self, stays: list[_Stay]) -> list[Flag]:
        """A case without procedures in a DRG whose cases (at least 20) nearly all have one."""
        with_procedure: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for stay in stays:
            with_procedure[stay.result.drg][0] += bool(stay.case.procedures)
            with_procedure[stay.result.drg][1] += 1
        usual = {drg: hits / total for drg, (hits, total) in with_procedure.items()
                 if total >= 20 and hits / total >= self.policy.missing_procedure_share}
        return [Flag("missing_procedures", s.case.hospital_id or "", (s.case.id,),
                     _score(usual[s.result.drg] - self.policy.missing_procedure_share),
                     f"no procedure coded; {usual[s.result.drg]:.0%} of {with_procedure[s.result.drg][1]} "
                     f"{s.result.drg} cases have one")
                for s in stays if s.result.drg in usual and not s.case.procedures]

    def _cost_shifting(self, stays: list[_Stay], visits: list[OutpatientVisit]) -> list[Flag]:
        """Outpatient spending at the same hospital just before admission or after discharge, large
        against the stay's own cost: work-up or treatment moved out of the DRG payment."""
        by_patient: dict[tuple[str, str], list[OutpatientVisit]] = defaultdict(list)
        for visit in visits:
            by_patient[(visit.patient_id, visit.hospital_id)].append(visit)
        window = timedelta(days=self.policy.shift_window_days)
        flags = []
        for stay in stays:
            c = stay.case
            near = [v for v in by_patient.get((c.patient_id or "", c.hospital_id or ""), ())
                    if c.admission_date and c.discharge_date
                    and (c.admission_date - window <= v.visit_date < c.admission_date
                         or c.discharge_date < v.visit_date <= c.discharge_date + window)]
            moved = sum((v.total_cost for v in near), Decimal(0))
            if not near or not c.total_cost or moved < Decimal(repr(self.policy.shift_min_amount)):
                continue
            share = float(moved / c.total_cost)
            if share >= self.policy.shift_min_share:
                flags.append(Flag("cost_shifting", c.hospital_id or "", (c.id, *(v.id for v in near)),
                                  _score(share - self.policy.shift_min_share),
                                  f"{len(near)} outpatient visit(s) within {self.policy.shift_window_days} days "
                                  f"of the stay cost {moved} 元, {share:.0%} of the stay's {c.total_cost} 元"))
        return flags

    # ---- hospital signals --------------------------------------------------------------------------

    def _severity_share(self, stays: list[_Stay]) -> list[Flag]:
        """Share of cases in suffix-1/3 DRGs, among ADRGs that split, against hospitals of the same level."""
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        level: dict[str, str] = {}
        for stay in stays:
            drg = stay.result.drg
            if stay.result.status == "grouped" and drg[-1] in "135" and stay.case.hospital_id:
                counts[stay.case.hospital_id][0] += drg[-1] in "13"
                counts[stay.case.hospital_id][1] += 1
                level[stay.case.hospital_id] = stay.case.hospital_level or ""
        shares = {h: hits / total for h, (hits, total) in counts.items() if total >= 30}
        return _peer_outliers("severity_share", shares, level, self.policy.peer_z, "{:.1%} cases with MCC/CC")

    def _cmi(self, stays: list[_Stay]) -> list[Flag]:
        """Case-mix index (mean relative weight, here mean standard cost ÷ all cases' mean) against peers."""
        weights: dict[str, list[float]] = defaultdict(list)
        level: dict[str, str] = {}
        for stay in stays:
            standard = self.standard_cost.get(stay.result.drg)
            if standard and stay.case.hospital_id:
                weights[stay.case.hospital_id].append(float(standard))
                level[stay.case.hospital_id] = stay.case.hospital_level or ""
        if not weights:
            return []
        overall = statistics.fmean(w for values in weights.values() for w in values)
        cmi = {h: statistics.fmean(values) / overall for h, values in weights.items() if len(values) >= 30}
        return _peer_outliers("cmi_peer", cmi, level, self.policy.peer_z, "CMI {:.2f}")

    def _bunching(self, stays: list[_Stay]) -> list[Flag]:
        """Cases just above the high-cost threshold against just below it, per hospital."""
        above: dict[str, int] = defaultdict(int)
        below: dict[str, int] = defaultdict(int)
        threshold, band = self.policy.bunching_threshold, self.policy.bunching_band
        for stay in stays:
            standard = self.standard_cost.get(stay.result.drg)
            if not standard or not stay.case.total_cost or not stay.case.hospital_id:
                continue
            ratio = float(stay.case.total_cost / standard)
            if threshold < ratio <= threshold + band:
                above[stay.case.hospital_id] += 1
            elif threshold - band < ratio <= threshold:
                below[stay.case.hospital_id] += 1
        flags = []
        for hospital, n_above in above.items():
            n_below = below.get(hospital, 0)
            if n_above >= self.policy.bunching_min_cases and n_above > self.policy.bunching_factor * max(n_below, 1):
                flags.append(Flag("threshold_bunching", hospital, (), _score(n_above / max(n_below, 1) / 10),
                                  f"{n_above} cases at {threshold}–{threshold + band}× the standard against "
                                  f"{n_below} at {threshold - band}–{threshold}×"))
        return flags


def _quantile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _peer_outliers(rule: str, values: dict[str, float], level: dict[str, str], z_limit: float,
                   label: str) -> list[Flag]:
    """Hospitals whose value is more than ``z_limit`` standard deviations above their level peers'."""
    flags = []
    for hospital, share in values.items():
        peers = [s for h, s in values.items() if h != hospital and level.get(h) == level.get(hospital)]
        if len(peers) < 3:
            continue
        mean, sd = statistics.fmean(peers), statistics.pstdev(peers)
        z = (share - mean) / sd if sd else 0.0
        if z > z_limit:
            flags.append(Flag(rule, hospital, (), _score((z - z_limit) / z_limit),
                              f"{label.format(share)} against {label.format(mean)} ± {sd:.3f} at {len(peers)} "
                              f"{level.get(hospital) or 'same-level'} peers (z = {z:.1f})"))
    return flags
