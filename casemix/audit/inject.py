"""Labelled irregularities injected into a synthetic city, and the precision and recall of the audit.

Each injection changes or adds stays the way the irregularity does in practice (DOMAIN.md §7.2):
a stay split in two with a short gap (分解住院), a second claim for the same stay (重复结算), an MCC
added without any change in cost (高套), a one-day low-cost admission (低标准入院), extra procedures
(虚增操作), part of a stay's cost moved to outpatient visits in the days before it (费用转移).
The labels say which case ids carry which irregularity. Low-standard admissions are injected into
medical groups only: they are stays an outpatient visit would have served.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from casemix.audit.engine import Auditor, Flag
from casemix.grouping import Grouper
from casemix.policy import Policy
from casemix.records import Case
from casemix.records.case import CENT
from casemix.records.outpatient import OutpatientVisit, synthetic_visits
from casemix.records.synthetic import synthetic_city

INJECTED = ("split_admission", "duplicate_claim", "unsupported_severity", "low_standard_admission",
            "padded_procedures", "cost_shifting")


@dataclass(frozen=True)
class Injected:
    cases: list[Case]
    labels: dict[str, str]          # case id → rule
    visits: list[OutpatientVisit]   # outpatient visits: the background ones plus the shifted ones


def inject_irregularities(cases: list[Case], grouper: Grouper, share: float = 0.01, seed: int = 7,
                          split_exempt: tuple[str, ...] = (), visits: list[OutpatientVisit] | None = None) -> Injected:
    """Replace ``share`` of the cases, for each kind, with an irregular version (or add one).

    Splits are not injected into ADRGs exempt from the readmission rule (chemotherapy cycles)."""
    rng = random.Random(seed)
    out = list(cases)
    labels: dict[str, str] = {}
    all_visits = list(visits or [])
    per_kind = max(1, int(len(cases) * share))
    chosen = rng.sample(range(len(cases)), per_kind * len(INJECTED))
    extra_procedures = sorted(p for p in grouper.codebook.names["procedure"] if p.startswith("88.")
                              and p not in grouper.scheme.or_procedures)[:40]
    for kind, start in zip(INJECTED, range(0, len(chosen), per_kind)):
        for index in chosen[start:start + per_kind]:
            case = out[index]
            if kind == "split_admission":
                if grouper.group(case, explain=False).adrg.startswith(split_exempt or ("\0",)):
                    continue
                first, second = _split(case, rng)
                out[index] = first
                out.append(second)
                labels[first.id] = kind
            elif kind == "duplicate_claim":
                copy = case.model_copy(update={"id": f"{case.id}-D"})
                out.append(copy)
                labels[copy.id] = kind
            elif kind == "unsupported_severity":
                upcoded = _with_mcc(case, grouper, rng)
                if upcoded is not None:
                    out[index] = upcoded
                    labels[case.id] = kind
            elif kind == "low_standard_admission":
                adrg = grouper.group(case, explain=False).adrg
                if len(adrg) < 2 or adrg[1] not in "RSTUVWXYZ":      # admitting what an outpatient visit would treat
                    continue
                out[index] = case.model_copy(update={"discharge_mode": "1",
                    "los_days": 1, "discharge_date": case.admission_date + timedelta(days=1),
                    "total_cost": (case.total_cost * Decimal("0.15")).quantize(CENT, ROUND_HALF_UP)})
                labels[case.id] = kind
            elif kind == "padded_procedures":
                padding = tuple(rng.sample(extra_procedures, 10))
                out[index] = case.model_copy(update={"procedures": case.procedures + padding})
                labels[case.id] = kind
            else:
                shifted, moved = _shift(case, rng, len(all_visits))
                out[index] = shifted
                all_visits.extend(moved)
                labels[case.id] = kind
    return Injected(out, labels, all_visits)


def _shift(case: Case, rng: random.Random, numbered_from: int) -> tuple[Case, list[OutpatientVisit]]:
    """Move 40–60 % of the stay's cost to 1–3 outpatient visits in the days before admission."""
    moved_total = (case.total_cost * Decimal(repr(rng.uniform(0.4, 0.6)))).quantize(CENT, ROUND_HALF_UP)
    count = rng.randint(1, 3)
    parts = [(moved_total / count).quantize(CENT, ROUND_HALF_UP)] * (count - 1)
    parts.append(moved_total - sum(parts, Decimal(0)))
    visits = [OutpatientVisit(id=f"V-shift{numbered_from + i}", patient_id=case.patient_id,
                              hospital_id=case.hospital_id, total_cost=part,
                              visit_date=case.admission_date - timedelta(days=rng.randint(1, 5)))
              for i, part in enumerate(parts)]
    return case.model_copy(update={"total_cost": case.total_cost - moved_total}), visits


def _split(case: Case, rng: random.Random) -> tuple[Case, Case]:
    stay = max((case.discharge_date - case.admission_date).days, 2)
    first_days = rng.randint(1, stay - 1)
    gap = timedelta(days=rng.randint(1, 7))
    first_end = case.admission_date + timedelta(days=first_days)
    half = (case.total_cost / 2).quantize(CENT, ROUND_HALF_UP)
    first = case.model_copy(update={"discharge_date": first_end, "los_days": first_days, "total_cost": half,
                                    "self_pay": None})
    second = case.model_copy(update={"id": f"{case.id}-S", "admission_date": first_end + gap,
                                     "discharge_date": first_end + gap + timedelta(days=stay - first_days),
                                     "los_days": stay - first_days, "total_cost": case.total_cost - half,
                                     "self_pay": None})
    return first, second


def _with_mcc(case: Case, grouper: Grouper, rng: random.Random) -> Case | None:
    """The case with an MCC added that its principal diagnosis does not exclude, if that changes the DRG."""
    before = grouper.group(case, explain=False)
    if before.status != "grouped" or not before.drg.endswith("5"):
        return None
    pdx = before.principal_dx
    exclusions = grouper.scheme.exclusions
    candidates = [code for code, table in grouper.scheme.mcc.items() if pdx not in exclusions.get(table, ())][:200]
    for code in rng.sample(candidates, min(20, len(candidates))):
        upcoded = case.model_copy(update={"secondary_dx": (*case.secondary_dx, code)})
        if grouper.group(upcoded, explain=False).drg[-1] in "13":
            return upcoded
    return None


def precision_recall(flags: list[Flag], labels: dict[str, str]) -> dict[str, dict[str, float]]:
    """Per injected rule: precision (flagged cases that carry that label) and recall (labels flagged)."""
    flagged: dict[str, set[str]] = {rule: set() for rule in INJECTED}
    for flag in flags:
        if flag.rule in flagged:
            first_only = flag.rule in ("split_admission", "cost_shifting")      # the stay, not its partner
            flagged[flag.rule].update(flag.case_ids[:1] if first_only else flag.case_ids)
    expected = Counter(labels.values())
    report = {}
    for rule in INJECTED:
        hits = {cid for cid in flagged[rule] if labels.get(cid) == rule}
        duplicate_pairs = rule == "duplicate_claim"
        true_flags = {cid for cid in flagged[rule] if labels.get(cid) == rule or
                      (duplicate_pairs and labels.get(f"{cid}-D") == rule)}
        report[rule] = {
            "injected": expected[rule], "flagged": len(flagged[rule]),
            "precision": len(true_flags) / len(flagged[rule]) if flagged[rule] else 0.0,
            "recall": len(hits) / expected[rule] if expected[rule] else 0.0,
        }
    return report


def measure(grouper: Grouper, sample: list[Case], policy: Policy, cases: int = 50_000, hospitals: int = 30,
            share: float = 0.01, seed: int = 11) -> dict[str, dict[str, float]]:
    """Precision and recall per rule on a synthetic city with injected, labelled irregularities.

    The city has no built-in readmissions and a large patient pool, so the injected cases are the
    only known irregularities; weights are learned from the city before injection.
    """
    city = synthetic_city(sample, hospitals=hospitals, cases=cases, readmission_share=0.0, seed=seed,
                          patients=cases * 10)
    clean = [grouper.group(case, explain=False) for case in city]
    auditor = Auditor.learned(policy, grouper.scheme, city, clean)       # standards from the clean city
    injected = inject_irregularities(city, grouper, share, seed, tuple(policy.audit.split_exempt_adrg_prefixes),
                                     synthetic_visits(city, seed=seed))
    results = [grouper.group(case, explain=False) for case in injected.cases]
    return precision_recall(auditor.audit(injected.cases, results, injected.visits), injected.labels)
