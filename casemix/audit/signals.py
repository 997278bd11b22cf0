"""Hospital signals (DOMAIN.md §7.2 "statistical signals"): a hospital against its level peers.

A signal names a hospital, not stays: its share of stays with MCC/CC, its case-mix index, or its
costs bunched just above the high-cost threshold stand out from same-level hospitals (z-score
above ``peer_z``), which points a reviewer at the hospital's upcoding or deviation-case gaming.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable

from casemix.audit.checks import Context, Flag, score
from casemix.grouping import GroupedCase


def severity_share(stays: list[GroupedCase], context: Context) -> list[Flag]:
    """Share of stays in suffix-1/3 DRGs, among ADRGs that split, against hospitals of the same level."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    level: dict[str, str] = {}
    for stay in stays:
        drg = stay.result.drg
        if stay.result.status == "grouped" and drg[-1] in "135" and stay.case.hospital_id:
            counts[stay.case.hospital_id][0] += drg[-1] in "13"
            counts[stay.case.hospital_id][1] += 1
            level[stay.case.hospital_id] = stay.case.hospital_level or ""
    shares = {h: hits / total for h, (hits, total) in counts.items() if total >= context.policy.peer_min_cases}
    return _peer_outliers("severity_share", shares, level, context, "{:.1%} stays with MCC/CC")


def cmi_peer(stays: list[GroupedCase], context: Context) -> list[Flag]:
    """Case-mix index (here mean standard cost ÷ all stays' mean) against peers."""
    weights: dict[str, list[float]] = defaultdict(list)
    level: dict[str, str] = {}
    for stay in stays:
        standard = context.norms.standard_cost.get(stay.result.drg)
        if standard and stay.case.hospital_id:
            weights[stay.case.hospital_id].append(float(standard))
            level[stay.case.hospital_id] = stay.case.hospital_level or ""
    if not weights:
        return []
    overall = statistics.fmean(w for values in weights.values() for w in values)
    cmi = {h: statistics.fmean(values) / overall for h, values in weights.items()
           if len(values) >= context.policy.peer_min_cases}
    return _peer_outliers("cmi_peer", cmi, level, context, "CMI {:.2f}")


def threshold_bunching(stays: list[GroupedCase], context: Context) -> list[Flag]:
    """Stays just above the high-cost threshold against just below it, per hospital."""
    above: dict[str, int] = defaultdict(int)
    below: dict[str, int] = defaultdict(int)
    policy = context.policy
    threshold, band = policy.bunching_threshold, policy.bunching_band
    for stay in stays:
        ratio = context.norms.ratio(stay)
        if ratio is None or not stay.case.hospital_id:
            continue
        if threshold < ratio <= threshold + band:
            above[stay.case.hospital_id] += 1
        elif threshold - band < ratio <= threshold:
            below[stay.case.hospital_id] += 1
    flags = []
    for hospital, n_above in above.items():
        n_below = below.get(hospital, 0)
        if n_above >= policy.bunching_min_cases and n_above > policy.bunching_factor * max(n_below, 1):
            flags.append(Flag("threshold_bunching", hospital, (), score(n_above / max(n_below, 1) / 10),
                              f"{n_above} stays at {threshold}–{threshold + band}× the standard against "
                              f"{n_below} at {threshold - band}–{threshold}×"))
    return flags


def _peer_outliers(rule: str, values: dict[str, float], level: dict[str, str], context: Context,
                   label: str) -> list[Flag]:
    """Hospitals whose value is more than ``peer_z`` standard deviations above their level peers'."""
    z_limit, flags = context.policy.peer_z, []
    for hospital, value in values.items():
        peers = [v for h, v in values.items() if h != hospital and level.get(h) == level.get(hospital)]
        if len(peers) < context.policy.peer_min_hospitals:
            continue
        mean, sd = statistics.fmean(peers), statistics.pstdev(peers)
        z = (value - mean) / sd if sd else 0.0
        if z > z_limit:
            flags.append(Flag(rule, hospital, (), score((z - z_limit) / z_limit),
                              f"{label.format(value)} against {label.format(mean)} ± {sd:.3f} at {len(peers)} "
                              f"{level.get(hospital) or 'same-level'} peers (z = {z:.1f})"))
    return flags


HOSPITAL: dict[str, Callable[[list[GroupedCase], Context], list[Flag]]] = {
    "severity_share": severity_share, "cmi_peer": cmi_peer, "threshold_bunching": threshold_bunching,
}
