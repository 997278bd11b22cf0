"""Hospital signals (DOMAIN.md §7.2 "statistical signals"): a hospital against its level peers.

A signal names a hospital, not stays: its share of stays with MCC/CC, its case-mix index, or its
costs bunched just above the high-cost threshold stand out from same-level hospitals (z-score
above ``peer_z``), which points a reviewer at the hospital's upcoding or deviation-case gaming.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace

from casemix.audit.checks import Context, Flag, PeerRates, score
from casemix.audit.norms import bunching_counts
from casemix.grouping import GroupedCase


def severity_share(stays: list[GroupedCase], context: Context) -> list[Flag]:
    """Stays in suffix-1/3 DRGs, among ADRGs that split, against what same-level hospitals' rates in the
    same ADRGs predict for the hospital's own mix (indirect standardisation: expected = Σ over its stays of
    the peers' x1/x3 rate in that ADRG), so a hospital is not signalled for treating sicker ADRGs. The
    value compared with peers (z above ``peer_z``) is observed ÷ expected; each hospital's expected
    comes from the other hospitals of its level."""
    rates = context.once("severity_rates", stays, severity_rates)
    ratios, level, said = {}, {}, {}
    for hospital, (observed, count) in rates.own.items():
        expected = rates.expected(hospital)
        if count < context.policy.peer_min_cases or not expected:
            continue
        ratios[hospital] = observed / expected
        level[hospital] = rates.level(hospital)
        said[hospital] = (f"{observed} x1/x3 stays of {count} against {expected:.1f} expected from same-level "
                          "peers' rates in its ADRGs")
    flags = _peer_outliers("severity_share", ratios, level, context, "O/E {:.2f}")
    return [replace(flag, evidence=f"{said[flag.hospital_id]}; {flag.evidence}") for flag in flags]


def severity_rates(stays: list[GroupedCase], context: Context) -> PeerRates:
    """Each ADRG's rate of x1/x3 stays among its grouped x1/x3/x5 stays at a hospital, at each level."""
    split = [stay for stay in stays if stay.result.status == "grouped" and stay.result.drg[-1] in "135"
             and stay.case.hospital_id]
    severe = {stay.case.id for stay in split if stay.result.drg[-1] in "13"}
    return PeerRates.of(split, severe, context.policy.norm_min_cases, cell=by_adrg)


def by_adrg(stay: GroupedCase) -> str:
    return stay.result.adrg


def cmi_peer(stays: list[GroupedCase], context: Context) -> list[Flag]:
    """Case-mix index (here mean standard cost ÷ all stays' mean) against peers."""
    weights, level = context.once("standards_by_hospital", stays, standards_by_hospital)
    if not weights:
        return []
    overall = statistics.fmean(w for values in weights.values() for w in values)
    cmi = {h: statistics.fmean(values) / overall for h, values in weights.items()
           if len(values) >= context.policy.peer_min_cases}
    return _peer_outliers("cmi_peer", cmi, level, context, "CMI {:.2f}")


def standards_by_hospital(stays: list[GroupedCase], context: Context) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Each hospital's stays' DRG standard costs (stays of a DRG with a standard, in batch order, hospitals in
    the order of their first), and its level (that of its last such stay)."""
    weights: dict[str, list[float]] = defaultdict(list)
    level: dict[str, str] = {}
    standards = {drg: float(standard) for drg, standard in context.norms.standard_cost.items() if standard}
    for stay in stays:
        if (standard := standards.get(stay.result.drg)) and (hospital := stay.case.hospital_id):
            weights[hospital].append(standard)
            level[hospital] = stay.case.hospital_level or ""
    return dict(weights), level


def threshold_bunching(stays: list[GroupedCase], context: Context) -> list[Flag]:
    """Stays just above the high-cost threshold per stay just below it, at each hospital, against the
    lower of two baselines: the same ratio at its same-level peers together and the hospital's own in
    the history the norms were learned from. Costs pushed past the threshold pile up above it."""
    policy = context.policy
    above, below, level = context.once("bunching", stays, bunching)
    flags = []
    for hospital, n_above in above.items():
        n_below = below.get(hospital, 0)
        peers = [h for h in {*above, *below} if h != hospital and level.get(h) == level.get(hospital)]
        baselines = [sum(above.get(h, 0) for h in peers) / max(sum(below.get(h, 0) for h in peers), 1)]
        past_above, past_below = context.norms.bunching.get(hospital, (0, 0))
        if past_above + past_below >= 2 * policy.bunching_min_cases:
            baselines.append(past_above / max(past_below, 1))
        baseline = max(min(baselines), 0.1)
        mine = n_above / max(n_below, 1)
        if n_above >= policy.bunching_min_cases and mine > policy.bunching_factor * baseline:
            flags.append(Flag("threshold_bunching", hospital, (), score(mine / (policy.bunching_factor * baseline) - 1),
                              f"{n_above} stays at {policy.bunching_threshold}–"
                              f"{policy.bunching_threshold + policy.bunching_band}× the standard, {mine:.2f} per stay "
                              f"just below it, against {baseline:.2f} (same-level hospitals, or its own history)"))
    return flags


def bunching(stays: list[GroupedCase], context: Context) -> tuple[dict[str, int], dict[str, int], dict[str, str]]:
    """Per hospital, its stays just above and just below the high-cost threshold (``norms.bunching_counts``),
    and each hospital's level (that of its last stay)."""
    policy = context.policy
    above, below = bunching_counts(stays, context.norms.ratio, policy.bunching_threshold, policy.bunching_band)
    return above, below, {stay.case.hospital_id: stay.case.hospital_level or "" for stay in stays
                          if stay.case.hospital_id}


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


def severity_share_once(stays: list[GroupedCase], context: Context) -> list[Flag]:
    """``severity_share``, worked out once per batch: the upcoding check across stays reads it too."""
    return context.once("severity_share", stays, severity_share)


HOSPITAL: dict[str, Callable[[list[GroupedCase], Context], list[Flag]]] = {
    "severity_share": severity_share_once, "cmi_peer": cmi_peer, "threshold_bunching": threshold_bunching,
}
