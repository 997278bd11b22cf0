"""Which stays of a batch each audit check needs to look at, found in columns (issue 12 §5, issue 14 §1).

A batch audit runs every check of the catalogue over every stay, though most checks can only flag
a few: 推诿病人 only a stay discharged by transfer or against advice in an expensive DRG, a check
across stays only a patient with two dated stays. Here the batch becomes one frame of the facts
those entry conditions read (a row per stay), the conditions become polars expressions, and each
check then runs, unchanged, on the stays that pass them, in batch order. A condition here is only
ever the check's own first test, or looser, so the flags are the very flags of every stay checked
one by one (``tests/test_audit_batch.py`` compares them):

- ``padded_procedures``: more procedures than the DRG's limit, or an operation (ICD-9-CM-3 01–86
  among the scheme's OR procedures) with 手术费 at most ``padded_max_surgery_share`` of the fee
  categories or fee lines to read;
- ``early_discharge``: a dumping discharge mode in a DRG costing ``dumping_min_relative_cost`` × the
  mean standard or more (the same stays for the one-stay flag and the readmitted one, whose patient
  must also have two dated stays);
- ``missing_procedures``: no procedure in a DRG whose history nearly always has one;
- ``bed_hanging``: at least ``bed_min_los`` days, and either a bill to read by day or a cost per day
  at most ``bed_max_day_ratio`` × the DRG's median; across stays, a patient with an outpatient visit;
- ``duplicate_claim`` and the overlaps of ``fake_admission``: a patient with two dated stays; the
  templated batches: a (hospital, principal) where some stay has ``fake_batch_min_stays`` dated stays in
  its window at costs that can be within the tolerance of its own;
- ``cost_shifting``: a stay whose patient visited the same hospital's clinic;
- ``low_standard_admission`` (the one-stay check): a grouped medical stay (ADRG second letter in
  ``MEDICAL_LETTERS``) discharged on orders, at most ``low_standard_max_los`` days, costing below
  ``low_standard_max_ratio`` × its DRG's standard;
- ``unsupported_severity`` (the one-stay check): a grouped x1/x3 stay with a cost of at most
  ``unsupported_severity_max_ratio`` × the standard of its ADRG's x5 DRG.

A check with no condition here (split admissions, low-standard admissions and upcoding across the batch,
which count every stay of a hospital, the hospital signals, a rule added later) sees every stay, as
before; what such a check reads of the whole batch by name (``Context.once``: each hospital's standards,
stays and level, the peers' rates, the stays about the high-cost threshold, the pairs a split can be made
of) is worked out here in columns instead, when it first asks (``BatchScope.tell``). Whoever changes a
check's entry tests changes or drops its condition here, and whoever changes one of those named values
changes its twin here: ``tests/test_audit_batch.py`` compares each pair, and ``by_patient`` here with
``checks.by_patient``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from operator import attrgetter

import polars as pl

from casemix.audit.checks import (
    MEDICAL_LETTERS,
    RETURNING,
    CarriedSeverity,
    Context,
    PeerRates,
    short_and_cheap,
    split_pairs,
)
from casemix.audit.norms import Norms, bunching_counts
from casemix.audit.signals import by_adrg
from casemix.grouping import GroupedCase

GROUP_SPAN = 10_000_000         # days: a group's block of the day numbers (dates from 1970 − DAY_ZERO on)
DAY_ZERO = 1_000_000
SLACK = 1e-9                    # a float bound loosened by this much, so rounding never drops a stay


FRAME_SCHEMA = {"id": pl.Utf8, "patient": pl.Utf8, "hospital": pl.Utf8, "admission": pl.Date,
                "discharge": pl.Date, "los": pl.Int64, "mode": pl.Utf8, "principal": pl.Utf8, "cost": pl.Float64,
                "drg": pl.Utf8, "grouped": pl.Boolean, "adrg": pl.Utf8, "procedures": pl.Int64, "operated": pl.Boolean,
                "surgery": pl.Float64, "level": pl.Utf8,
                "clinic_patient": pl.Boolean, "clinic_same_hospital": pl.Boolean}
"""A row per stay, as read from its case: id, patient, hospital, admission and discharge dates, LOS,
discharge mode, principal, cost (None for none or 0), DRG, whether it grouped and its ADRG, how many
procedures, whether one is an operation and then the share of 手术费 in its fee categories (None without
them), its hospital's level, whether its patient has an outpatient visit, and one at the stay's hospital.
``BatchScope.of`` adds the row number ``n``, ``dated`` (patient, admission and discharge known) and
``hospital_known``, and reads no hospital, level, DRG or ADRG as ""."""


@dataclass(frozen=True)
class BatchScope:
    """A batch as a frame of what the checks' entry conditions read, and the stays each check needs."""

    stays: list[GroupedCase]
    frame: pl.DataFrame
    context: Context

    @classmethod
    def of(cls, stays: list[GroupedCase], context: Context) -> BatchScope:
        """The batch's facts, a row per stay in batch order (``n``: its place in ``stays``)."""
        theatre = frozenset(code for code in context.or_procedures if _in_theatre(code))
        cases = list(map(attrgetter("case"), stays))
        procedures = list(map(attrgetter("procedures"), cases))
        operated = [bool(codes) and not theatre.isdisjoint(codes) for codes in procedures]
        columns = {name: list(map(attrgetter(field), cases)) for name, field in _FIELDS.items()}
        frame = pl.DataFrame({
            **columns,
            "cost": [float(cost) if cost else None for cost in map(attrgetter("total_cost"), cases)],
            "drg": list(map(attrgetter("result.drg"), stays)),
            "grouped": [status == "grouped" for status in map(attrgetter("result.status"), stays)],
            "adrg": list(map(attrgetter("result.adrg"), stays)),
            "procedures": list(map(len, procedures)),
            "operated": operated,
            "surgery": [_surgery_share(case.fees) if yes else None for case, yes in zip(cases, operated)],
            **_clinics(cases, context),
        }, schema=FRAME_SCHEMA).with_row_index("n")
        patient = pl.col("patient")
        frame = frame.with_columns(pl.col("hospital", "level", "drg", "adrg").fill_null(""),
                                   pl.col("hospital").is_not_null().alias("hospital_known"),
                                   (patient.is_not_null() & (patient != "") & pl.col("admission").is_not_null()
                                    & pl.col("discharge").is_not_null()).alias("dated"))
        return cls(stays, frame, context)

    def by_patient(self, chosen: pl.Series | None = None, least: int = 1) -> dict[str, list[GroupedCase]]:
        """``checks.by_patient(self.stays, least)``: each patient's dated stays in (admission, id) order, for
        the patients with at least ``least``, in the order of their first dated stay; with ``chosen`` (row
        numbers), only those stays, the patients still in the batch's order, so a check over them meets its
        patients as over the whole batch."""
        dated = self._in_patient_order.lazy()
        if chosen is not None:
            dated = dated.filter(pl.col("n").is_in(chosen.implode()))
        if least > 1:
            dated = dated.filter(pl.len().over("patient") >= least)
        rows = dated.select("patient", "n").collect()
        stays, out = self.stays, defaultdict(list)
        for patient, n in zip(rows["patient"].to_list(), rows["n"].to_list()):     # patient by patient, in order
            out[patient].append(stays[n])
        return dict(out)

    @cached_property
    def _in_patient_order(self) -> pl.DataFrame:
        """The dated stays patient by patient, in the order of each patient's first dated stay, each patient's
        in (admission, id) order: the order of ``checks.by_patient`` (a filter keeps it)."""
        first = pl.col("n").min().over("patient")
        return _dated(self.frame).sort(first, "admission", "id", maintain_order=True)

    def one_stay(self, rule: str) -> list[GroupedCase]:
        """The stays the one-stay check of ``rule`` can flag, in batch order (all, for a check without a
        condition here)."""
        condition = ONE_STAY_CONDITIONS.get(rule)
        return self.stays if condition is None else self._where(condition(self.context))

    def across_stays(self, rule: str) -> list[GroupedCase]:
        """The stays the cross-stay check of ``rule`` needs to see, in batch order."""
        condition = ACROSS_STAYS_CONDITIONS.get(rule)
        if condition is None:
            return self.stays
        chosen = condition(self.frame, self.context)
        stays = self._take(chosen)
        self.context.know("patients", stays, lambda: self.by_patient(chosen, RETURNING))
        return stays

    def tell(self) -> None:
        """Tell the context how to work out here, in columns, what the checks over the whole batch read, for
        when they first ask: each returning patient's stays (``Context.patients``), each patient's stays behind
        ``CarriedSeverity``, the stays about the high-cost threshold (``signals.bunching``), each hospital's
        standards, stays and level, the peers' rates of x1/x3 and of short cheap medical stays, and the
        pairs a split can be made of."""
        context, stays = self.context, self.stays
        for name, how in (("patients", lambda: self.by_patient(least=RETURNING)),
                          ("bunching", self._bunching), ("standards_by_hospital", self._standards_by_hospital),
                          ("severity_rates", self._severity_rates), ("short_cheap_medical", self._low_standard_pattern),
                          ("split_candidates", lambda: split_pairs(self._back_within().values(), context.policy)),
                          ("hospital_volumes", self._hospital_volumes)):
            context.know(name, stays, how)
        if isinstance(context.carried, CarriedSeverity):
            context.carried.patients_from(lambda: self.frame["patient"].to_list())

    def _bunching(self) -> tuple[dict[str, int], dict[str, int], dict[str, str]]:
        """``signals.bunching`` of the batch: the Decimal ratios worked out only for the stays whose float
        cost ÷ standard is near the band (a stay without a cost as 0, looser), each hospital's last level."""
        policy, norms = self.context.policy, self.context.norms
        threshold, band = policy.bunching_threshold, policy.bunching_band
        ratio = pl.col("cost").fill_null(0.0) / _standards(norms)
        low, high = threshold - band, threshold + band
        near = self.frame.filter((ratio > low - SLACK * abs(low)) & (ratio <= high + SLACK * abs(high)))
        above, below = bunching_counts(self._take(near["n"]), norms.ratio, threshold, band)
        return above, below, _per_hospital(self.frame.filter(pl.col("hospital") != ""), pl.len())[1]

    def _severity_rates(self) -> PeerRates:
        """``signals.severity_rates`` of the batch."""
        suffix = pl.col("drg").str.slice(-1)
        split = self.frame.filter(pl.col("grouped") & suffix.is_in(["1", "3", "5"]) & (pl.col("hospital") != ""))
        return PeerRates(_tallies(split, "adrg", suffix.is_in(["1", "3"])), self.context.policy.norm_min_cases,
                         cell=by_adrg)

    def _low_standard_pattern(self) -> tuple[dict[str, float], list[GroupedCase], PeerRates]:
        """``checks.short_cheap_medical`` of the batch: ``short_and_cheap`` read only for the stays its
        condition here admits (``_short_cheap_medical``), the readmitted ones found in columns."""
        context = self.context
        medical = self.frame.filter(_medical() & (pl.col("hospital") != ""))
        readmitted = set(self._readmitted_within(context.policy.split_window_days))
        pattern = {stay.case.id: ratio for stay in self._take(medical.filter(_short_cheap_medical(context))["n"])
                   if stay.case.id not in readmitted and (ratio := short_and_cheap(stay, context)) is not None}
        hit = pl.col("id").is_in(pl.Series(list(pattern), dtype=pl.Utf8).implode())
        return (pattern, self._take(medical.filter(hit)["n"]),
                PeerRates(_tallies(medical, "drg", hit), context.policy.norm_min_cases))

    def _readmitted_within(self, days: int) -> list[str]:
        """``checks._readmitted_within``: the ids of each patient's consecutive dated stays at the same
        hospital (a stay without one only with another without) with the second admitted at most ``days``
        after the first's discharge."""
        def next_(column: str) -> pl.Expr:
            return pl.col(column).shift(-1)
        starts = ((pl.col("patient") == next_("patient")) & (pl.col("hospital") == next_("hospital"))
                  & (pl.col("hospital_known") == next_("hospital_known"))
                  & ((next_("admission") - pl.col("discharge")).dt.total_days() <= days)).fill_null(False)
        ordered = self._in_patient_order
        return ordered.filter(starts | starts.shift(1).fill_null(False))["id"].to_list()

    def _back_within(self) -> dict[str, list[GroupedCase]]:
        """``by_patient`` of the dated stays with another of the patient's stays at the same hospital (a stay
        without one only with another without) admitted later, at most ``split_window_days`` after its
        discharge, and of those later stays: every stay a pair of ``checks.split_pairs`` can hold."""
        ordered = self._in_patient_order.filter(pl.len().over("patient") >= RETURNING).with_row_index("place") \
            .select("place", "n", "patient", "hospital", "hospital_known", "admission", "discharge")
        pairs = ordered.join(ordered, on=["patient", "hospital", "hospital_known"], suffix="_then").filter(
            (pl.col("place") < pl.col("place_then"))
            & ((pl.col("admission_then") - pl.col("discharge")).dt.total_days()
               <= self.context.policy.split_window_days))
        return self.by_patient(pl.concat([pairs["n"], pairs["n_then"]]).unique(), RETURNING)

    def _hospital_volumes(self) -> tuple[dict[str, int], dict[str, str]]:
        """``checks.hospital_volumes`` of the batch."""
        return _per_hospital(self.frame, pl.len())

    def _standards_by_hospital(self) -> tuple[dict[str, list[float]], dict[str, str]]:
        """``signals.standards_by_hospital`` of the batch."""
        priced = self.frame.select("hospital", "level", _standards(self.context.norms).alias("standard")) \
            .filter(pl.col("standard").is_not_null() & (pl.col("hospital") != ""))
        return _per_hospital(priced, pl.col("standard"))

    def _where(self, condition: pl.Expr) -> list[GroupedCase]:
        return self._take(self.frame.filter(condition)["n"])

    def _take(self, chosen: pl.Series) -> list[GroupedCase]:
        stays = self.stays
        return [stays[n] for n in chosen.sort().to_list()]


_FIELDS = {"id": "id", "patient": "patient_id", "hospital": "hospital_id", "admission": "admission_date",
           "discharge": "discharge_date", "los": "los_days", "mode": "discharge_mode", "principal": "principal_dx",
           "level": "hospital_level"}


def _clinics(cases: list, context: Context) -> dict[str, list[bool]]:
    """Whether each stay's patient has an outpatient visit, and one at the stay's hospital."""
    if not context.visits:
        return {"clinic_patient": [False] * len(cases), "clinic_same_hospital": [False] * len(cases)}
    patients = {visit.patient_id for visit in context.visits}
    clinics = {(visit.patient_id, visit.hospital_id) for visit in context.visits}
    return {"clinic_patient": [case.patient_id in patients for case in cases],
            "clinic_same_hospital": [(case.patient_id or "", case.hospital_id or "") in clinics for case in cases]}


def _in_theatre(code: str) -> bool:
    return code[:2].isdigit() and 1 <= int(code[:2]) <= 86


def _by_drg(values: dict[str, float | int], default: float | int | None = None) -> pl.Expr:
    return pl.col("drg").replace_strict(values, default=default, return_dtype=pl.Float64)


def _standards(norms: Norms) -> pl.Expr:
    """Each stay's DRG standard cost as a float, null where there is none (or it is 0)."""
    return _by_drg({drg: float(standard) for drg, standard in norms.standard_cost.items() if standard})


def _per_hospital(stays: pl.DataFrame, value: pl.Expr) -> tuple[dict[str, object], dict[str, str]]:
    """Each hospital's ``value`` over its stays and its level (that of its last stay), hospitals in the order
    of their first stay."""
    hospitals = stays.group_by("hospital", maintain_order=True).agg(value.alias("value"), pl.col("level").last())
    names = hospitals["hospital"].to_list()
    return dict(zip(names, hospitals["value"].to_list())), dict(zip(names, hospitals["level"].to_list()))


def _tallies(stays: pl.DataFrame, cell: str, hit: pl.Expr) -> dict[tuple[str, str, str], list[int]]:
    """(level, ``cell``, hospital) → [stays where ``hit``, stays], in the order the stays meet them."""
    tallies = stays.with_columns(hit.alias("hit")).group_by("level", cell, "hospital", maintain_order=True) \
        .agg(pl.col("hit").sum(), pl.len())
    return {(level, group, hospital): [hits, count] for level, group, hospital, hits, count in tallies.iter_rows()}


def _medical() -> pl.Expr:
    """A grouped stay in a medical ADRG (second letter in ``MEDICAL_LETTERS``)."""
    return (pl.col("grouped") & (pl.col("adrg").str.len_chars() > 1)
            & pl.col("adrg").str.slice(1, 1).is_in(list(MEDICAL_LETTERS)))


def _drgs(drgs: object) -> pl.Expr:
    return pl.col("drg").is_in(pl.Series(sorted(drgs), dtype=pl.Utf8).implode())


# ---- one stay -------------------------------------------------------------------------------------

def _surgery_share(fees: dict[str, Decimal] | None) -> float | None:
    total = float(sum(fees.values(), Decimal(0))) if fees else 0.0
    return float(fees.get("surgery", 0)) / total if total else None


def _padded(context: Context) -> pl.Expr:
    """Too many procedures, or an operation with a bill to read, or with 手术费 at most the policy's share."""
    limit = _by_drg(context.norms.procedure_limit, context.norms.default_procedure_limit)
    unbilled = pl.col("surgery") <= context.policy.padded_max_surgery_share * (1 + SLACK)
    operation = pl.col("operated") & (pl.lit(bool(context.bills)) | unbilled.fill_null(False))
    return (pl.col("procedures") > limit) | operation


def _dumping(context: Context) -> pl.Expr:
    policy, norms = context.policy, context.norms
    expensive = [drg for drg, standard in norms.standard_cost.items()
                 if standard and float(standard) >= policy.dumping_min_relative_cost * norms.mean_standard]
    modes = pl.Series(list(policy.dumping_discharge_modes), dtype=pl.Utf8).implode()
    return pl.col("mode").fill_null("").is_in(modes) & _drgs(expensive)


def _missing(context: Context) -> pl.Expr:
    floor = context.policy.missing_procedure_share
    usual = [drg for drg, share in context.norms.procedure_share.items() if share >= floor]
    return _drgs(usual) & (pl.col("procedures") == 0)


def _bed_bill(context: Context) -> pl.Expr:
    policy = context.policy
    long_enough = pl.col("los").fill_null(0) >= policy.bed_min_los
    if context.bills and context.classifier is not None:
        return long_enough                  # read by day from the bill: each long stay is looked at
    usual = _by_drg({drg: per_day for drg, per_day in context.norms.cost_per_day.items() if per_day})
    cheap = pl.col("cost") / pl.col("los") <= policy.bed_max_day_ratio * usual * (1 + SLACK)
    return long_enough & cheap.fill_null(False)


def _short_cheap_medical(context: Context) -> pl.Expr:
    """A grouped medical stay discharged on orders, at most ``low_standard_max_los`` days, whose cost ÷
    standard is below ``low_standard_max_ratio`` (no cost counts as 0 here: looser)."""
    policy = context.policy
    cheap = pl.col("cost").fill_null(0.0) / _standards(context.norms) < policy.low_standard_max_ratio * (1 + SLACK)
    return (_medical() & (pl.col("los") <= policy.low_standard_max_los)
            & (pl.col("mode").fill_null("1") == "1") & cheap.fill_null(False))


def _severe_costed(context: Context) -> pl.Expr:
    """A grouped x1/x3 stay with a cost of at most ``unsupported_severity_max_ratio`` × its ADRG's x5 standard."""
    standards = context.norms.standard_cost
    base = {adrg: float(standard) for adrg in {drg[:-1] for drg in standards}
            if (standard := standards.get(adrg + "5"))}
    cap = context.policy.unsupported_severity_max_ratio * (1 + SLACK)
    return (pl.col("grouped") & pl.col("drg").str.slice(-1).is_in(["1", "3"])
            & (pl.col("cost") <= cap * pl.col("adrg").replace_strict(base, default=None, return_dtype=pl.Float64))
            .fill_null(False))


ONE_STAY_CONDITIONS: dict[str, Callable[[Context], pl.Expr]] = {
    "padded_procedures": _padded, "early_discharge": _dumping, "missing_procedures": _missing,
    "bed_hanging": _bed_bill, "low_standard_admission": _short_cheap_medical, "unsupported_severity": _severe_costed,
}


# ---- across stays ---------------------------------------------------------------------------------

def _dated(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("dated"))


def _copies(frame: pl.DataFrame, context: Context) -> pl.Series:
    """A patient's dated stays at one hospital with one principal, two or more (a copy keeps both)."""
    return _dated(frame).filter(pl.len().over("patient", "hospital", "principal") >= 2)["n"]


def _dumped_then_readmitted(frame: pl.DataFrame, context: Context) -> pl.Series:
    """Every dated stay of a patient with two or more, one of them a possible early discharge."""
    dumped = frame.filter(_dumping(context))["patient"].drop_nulls().unique().implode()
    return _dated(frame).filter((pl.len().over("patient") >= 2) & pl.col("patient").is_in(dumped))["n"]


def _templated_or_overlapping(frame: pl.DataFrame, context: Context) -> pl.Series:
    return pl.concat([_templated(frame, context), _overlapping(frame, context)]).unique()


def _templated(frame: pl.DataFrame, context: Context) -> pl.Series:
    """The dated, costed stays of each hospital and principal where some stay (an anchor) has at least
    ``fake_batch_min_stays`` of them admitted within ``fake_batch_window_days`` of its admission, in the cost
    bands that can hold a cost within ``fake_batch_cost_tolerance`` of its own: only there can a batch be
    made (the whole group, so its stays are met in the batch's order). A cost's band is its logarithm in
    steps of the widest log ratio the tolerance allows (a little wider), so a batch lies in its anchor's
    band and the two beside it."""
    policy = context.policy
    costed = frame.filter(pl.col("admission").is_not_null() & pl.col("cost").is_not_null()
                          & (pl.len().over("hospital", "principal") >= policy.fake_batch_min_stays))
    if costed.is_empty():
        return costed["n"]
    keyed = costed.select(
        "n", "hospital", "principal", (pl.col("admission").cast(pl.Int64) + DAY_ZERO).alias("day"),
        pl.struct("hospital", "principal").rank("dense").cast(pl.Int64).alias("group"),
        (pl.col("cost").log() / _band_width(policy.fake_batch_cost_tolerance)).floor().cast(pl.Int64).alias("band"))
    low, bands = keyed["band"].min(), keyed["band"].max() - keyed["band"].min() + 3

    def at(shift: int) -> pl.Series:    # each stay's day in its group and the band ``shift`` from its own
        return keyed.select((pl.col("group") * bands + pl.col("band") - low + 1 + shift) * GROUP_SPAN
                            + pl.col("day")).to_series()
    own, window = at(0), policy.fake_batch_window_days
    keys = own.sort()
    near = sum(keys.search_sorted(start + window, side="right") - keys.search_sorted(start, side="left")
               for start in (at(-1), own, at(1)))
    dense = keyed.filter(near >= policy.fake_batch_min_stays).select("hospital", "principal").unique()
    return keyed.join(dense, on=["hospital", "principal"], how="semi")["n"]


def _band_width(tolerance: float) -> float:
    """The widest |log(cost ÷ anchor's cost)| within ``tolerance`` (at least 0.001), loosened by a millionth
    against rounding; any cost is within a tolerance of 1 or more: one band."""
    return math.inf if tolerance >= 1 else max(-math.log1p(-tolerance), 1e-3) * (1 + 1e-6)


def _overlapping(frame: pl.DataFrame, context: Context) -> pl.Series:
    """A patient's dated stays that overlap another of theirs (in the ward on the same day): a stay
    admitted before an earlier one's discharge, or discharged after the next one's admission."""
    ordered = _dated(frame)
    admitted = _grouped_days(("patient",), "admission")
    discharged = _grouped_days(("patient",), "discharge")
    overlaps = (discharged.cum_max().shift(1) > admitted).fill_null(False) | \
        (admitted.shift(-1) < discharged).fill_null(False)
    return ordered.sort("patient", "admission").filter(overlaps)["n"]


def _grouped_days(group: tuple[str, ...], day: str) -> pl.Expr:
    """Over a frame sorted by ``group`` and admission: ``day`` as a number that orders rows by group
    first (each group a block of ``GROUP_SPAN`` days), so one search or running maximum over the whole
    column stays within each group."""
    first = pl.lit(False)
    for column in group:
        first = first | (pl.col(column) != pl.col(column).shift(1)).fill_null(True)
    return first.cum_sum().cast(pl.Int64) * GROUP_SPAN + pl.col(day).cast(pl.Int64) + DAY_ZERO


def _shifted(frame: pl.DataFrame, context: Context) -> pl.Series:
    return frame.filter(pl.col("clinic_same_hospital"))["n"]


def _seen_elsewhere(frame: pl.DataFrame, context: Context) -> pl.Series:
    return frame.filter(pl.col("dated") & pl.col("clinic_patient"))["n"]


ACROSS_STAYS_CONDITIONS: dict[str, Callable[[pl.DataFrame, Context], pl.Series]] = {
    "duplicate_claim": _copies, "early_discharge": _dumped_then_readmitted,
    "fake_admission": _templated_or_overlapping, "cost_shifting": _shifted, "bed_hanging": _seen_elsewhere,
}
