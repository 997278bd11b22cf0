"""A year's DRG points, prepayment and year end in columns: :mod:`.points` and :mod:`.yearend` over a frame.

The same rules as :func:`~casemix.settlement.points.score_cases` then :func:`~casemix.settlement.run.settle_points`
(normal, high and low multiplier, incomplete stay, special-review candidates resolved under the cap, readmissions;
monthly prepayment; year end), to the same points, money and words, without a Python object per case. Exact as
Decimal is: money is held in integer fen, points in integer 0.0001 points, and every product and quotient is
carried out in integers and rounded half up where :mod:`.points` quantizes (the Decimal context's 28 digits never
round these operands). A special-review candidate's cost-based points are computed by :mod:`.points` itself, once
per distinct cost.

What this module does not score in columns — per-diem categories, priority-specialty and TCM bonuses, or
standards and coefficients finer than integers can hold exactly — makes :func:`frame_points` answer None, and the
caller scores the cases one by one instead.
"""

from __future__ import annotations

import math
from decimal import Decimal

import polars as pl

from casemix.policy import SettlementPolicy
from casemix.settlement.coefficients import Coefficients
from casemix.settlement.points import SettlementCase, Standards, _points, _Rules, cost_points
from casemix.settlement.yearend import HospitalStatement, prepayments_of

CASE_SCHEMA = {"case_id": pl.String, "hospital_id": pl.String, "patient_id": pl.String, "admission_date": pl.Date,
               "discharge_date": pl.Date, "drg": pl.String, "adrg": pl.String, "status": pl.String,
               "cost_fen": pl.Int64, "self_pay_fen": pl.Int64, "discharge_mode": pl.String, "department": pl.String,
               "los_days": pl.Int64, "insurance_type": pl.String, "procedures": pl.List(pl.String)}
"""A settlement case as columns (:class:`~casemix.settlement.points.SettlementCase`), money in integer fen."""

_LIMIT = 9 * 10**18             # within Int64: an operand that could pass it sends the year to the per-case path


def cases_frame(cases: list[SettlementCase]) -> pl.DataFrame:
    """``cases`` as :data:`CASE_SCHEMA` columns, in order."""
    columns = {name: [getattr(c, name) for c in cases] for name in CASE_SCHEMA if not name.endswith("_fen")}
    columns["procedures"] = [list(c.procedures) for c in cases]
    columns["cost_fen"] = [_fen(c.cost) for c in cases]
    columns["self_pay_fen"] = [_fen(c.self_pay) for c in cases]
    return pl.DataFrame(columns, schema=CASE_SCHEMA)


def _fen(amount: Decimal) -> int:
    return int(amount.scaleb(2))


def money(fen: int) -> Decimal:
    """A case's cost or patient payment as :class:`SettlementCase` holds it: 0 (no amount) or cents."""
    return Decimal(0) if fen == 0 else Decimal(fen).scaleb(-2)


def _scaled(value: Decimal, places: int) -> int | None:
    """``value`` × 10^places as an integer, None when it has more decimal places than ``places``."""
    units = value.scaleb(places)
    return int(units) if units == units.to_integral_value() else None


def _text(units: pl.Expr, places: int) -> pl.Expr:
    """A non-negative integer of 10^-places units as Decimal prints it quantized to ``places``."""
    scale = 10**places
    return (units // scale).cast(pl.String) + "." + (units % scale).cast(pl.String).str.zfill(places)


def _round(units: pl.Expr, drop: int) -> pl.Expr:
    """Non-negative ``units`` with ``drop`` decimal places removed, rounded half up."""
    return units if drop == 0 else (units * 2 + 10**drop) // (2 * 10**drop)


def frame_points(cases: pl.DataFrame, standards: Standards, policy: SettlementPolicy,
                 coefficients: Coefficients) -> pl.DataFrame | None:
    """Every case's points line, in input order, as :func:`~casemix.settlement.points.score_cases` gives them with
    the automatic special-review cap: ``cases`` (:data:`CASE_SCHEMA`) with kind, ratio (text), points (integer
    0.0001 points, ``points_e4``) and detail. None when the policy or the standards need the per-case path."""
    scored = frame_scored(cases, standards, policy, coefficients)
    return None if scored is None else frame_readmitted(scored, policy)


def frame_scored(cases: pl.DataFrame, standards: Standards, policy: SettlementPolicy,
                 coefficients: Coefficients) -> pl.DataFrame | None:
    """:func:`frame_points` before readmissions: every case scored and each hospital's special-review candidates
    resolved under its cap (so ``cases`` must hold every case of each of its hospitals), in input order. None when
    the policy or the standards need the per-case path."""
    rules = _Rules.of(policy)
    if rules.per_diem.groups or rules.per_diem.departments or rules.departments or rules.tcm_bonus:
        return None
    drgs = _drg_standards(cases, standards, rules)
    ks = _coefficients(cases, coefficients)
    thresholds = [_scaled(v, 4) for v in (rules.review_above, rules.low)]
    if drgs is None or ks is None or None in thresholds or not _fits(drgs, ks, thresholds[0]):
        return None
    above, low = thresholds
    frame = (cases.with_row_index("_index")
             .join(drgs, on="drg", how="left", maintain_order="left")
             .join(ks, on=["drg", "hospital_id"], how="left", maintain_order="left"))
    scored = _scored(frame, above, low, rules)
    return _resolve_review(scored, standards, policy).drop("_index")


def frame_readmitted(lines: pl.DataFrame, policy: SettlementPolicy) -> pl.DataFrame:
    """Scored ``lines`` (:func:`frame_scored`, in input order) with readmissions applied
    (:func:`~casemix.settlement.points.apply_readmissions`); ``lines`` must hold every stay of each of its
    patients."""
    return _readmitted(lines.with_row_index("_index"), policy).drop("_index")


def _drg_standards(cases: pl.DataFrame, standards: Standards, rules: _Rules) -> pl.DataFrame | None:
    """Each settled DRG with base points and a standard cost: both in fen, their text, the high threshold."""
    rows = []
    for drg in cases["drg"].unique().to_list():
        bp, mean = standards.base_points.get(drg), standards.standard_cost.get(drg)
        if bp is None or not mean:
            continue
        high = rules.high_threshold(bp)
        scaled = (_scaled(bp, 2), _scaled(mean, 2), _scaled(high, 4))
        if None in scaled or bp < 0 or mean < 0:
            return None
        rows.append((drg, *scaled, str(bp), str(high)))
    return pl.DataFrame(rows, schema={"drg": pl.String, "_bp": pl.Int64, "_mean": pl.Int64, "_high": pl.Int64,
                                      "_bp_text": pl.String, "_high_text": pl.String}, orient="row")


def _coefficients(cases: pl.DataFrame, coefficients: Coefficients) -> pl.DataFrame | None:
    """Each (DRG, hospital) settled with its coefficient k in millionths, k's text and why."""
    rows = []
    for drg, hospital in cases.select("drg", "hospital_id").unique().iter_rows():
        k = coefficients.of(drg, hospital)
        scaled = _scaled(k.value, 6)
        if scaled is None or scaled < 0:
            return None
        rows.append((drg, hospital, scaled, str(k.value), f" (k {k.value}: {k.why})" if k.why else ""))
    return pl.DataFrame(rows, schema={"drg": pl.String, "hospital_id": pl.String, "_k": pl.Int64,
                                      "_k_text": pl.String, "_k_why": pl.String}, orient="row")


def _fits(drgs: pl.DataFrame, ks: pl.DataFrame, above: int) -> bool:
    """Whether the largest products (BP × k × ratio with ratio < 1; BP × ratio with ratio up to the special-review
    ratio) stay within Int64."""
    bp, k = drgs["_bp"].max() or 0, ks["_k"].max() or 0
    return bp * k * 10**4 < _LIMIT and bp * (above + 10**4) * 100 < _LIMIT


def _scored(frame: pl.DataFrame, above: int, low: int, rules: _Rules) -> pl.DataFrame:
    """:func:`~casemix.settlement.points._base_points` with the coefficient's words, before special review."""
    bp, k, high, cost = pl.col("_bp"), pl.col("_k"), pl.col("_high"), pl.col("cost_fen")
    ratio = (cost * 2 * 10**4 + pl.col("_mean")) // (pl.col("_mean") * 2)
    frame = frame.with_columns(_ratio=pl.when(bp.is_not_null() & (pl.col("status") == "grouped")).then(ratio))
    r = pl.col("_ratio")
    ratio_text, bp_text, k_text, high_text = _text(r, 4), pl.col("_bp_text"), pl.col("_k_text"), pl.col("_high_text")
    incomplete = pl.col("discharge_mode").is_in(sorted(rules.incomplete_modes))
    kind = (pl.when(r.is_null() | (r > above)).then(pl.lit("review"))
            .when(r > high).then(pl.lit("high"))
            .when(r < low).then(pl.lit("low"))
            .when((r < 10**4) & incomplete).then(pl.lit("incomplete"))
            .otherwise(pl.lit("normal")))
    frame = frame.with_columns(kind=kind)
    kind = pl.col("kind")
    points = (pl.when(kind == "high").then(_round(bp * k + bp * (r - high) * 100, 4))
              .when(kind == "low").then(_round(bp * r, 2))
              .when(kind == "incomplete").then(_round(bp * k * r, 8))
              .when(kind == "normal").then(_round(bp * k, 4)))
    unweighted = pl.when(pl.col("status") != "grouped").then(
        pl.lit("special review candidate: ") + pl.col("status") + " " + pl.col("drg")).otherwise(
        pl.lit("special review candidate: ") + pl.col("drg") + " has no weight")
    detail = (pl.when(r.is_null()).then(unweighted)
              .when(kind == "review").then(
                  pl.lit("special review candidate: cost ") + ratio_text + "× the " + pl.col("drg") + " standard")
              .when(kind == "high").then(
                  pl.lit("high multiplier: ") + ratio_text + "× > " + high_text + "×, BP " + bp_text + " × k " + k_text
                  + " + BP × (" + ratio_text + " − " + high_text + ")")
              .when(kind == "low").then(
                  pl.lit("low multiplier: ") + ratio_text + f"× < {rules.low}×, BP " + bp_text + " × " + ratio_text)
              .when(kind == "incomplete").then(
                  pl.lit("incomplete stay (离院方式 ") + pl.col("discharge_mode") + "): BP " + bp_text + " × k "
                  + k_text + " × " + ratio_text)
              .otherwise(pl.lit("normal: BP ") + bp_text + " × k " + k_text))
    with_k = kind.is_in(["normal", "high", "incomplete"])
    detail = pl.when(with_k).then(detail + pl.col("_k_why")).otherwise(detail)
    return frame.with_columns(points_e4=points.clip(0), detail=detail, ratio=ratio_text).drop(
        "_bp", "_mean", "_high", "_bp_text", "_high_text", "_k", "_k_text", "_k_why", "_ratio")


def _resolve_review(frame: pl.DataFrame, standards: Standards, policy: SettlementPolicy) -> pl.DataFrame:
    """:func:`~casemix.settlement.points.resolve_special_review`: each hospital's costliest candidates admitted up
    to the cap share of its discharges, cost-based points × the review factor, the others × the unreviewed one."""
    discharges = frame.group_by("hospital_id").len("_discharges")
    candidates = (frame.filter(pl.col("kind") == "review").join(discharges, on="hospital_id")
                  .sort(["hospital_id", "cost_fen", "case_id"], descending=[False, True, False])
                  .with_columns(_rank=pl.int_range(pl.len()).over("hospital_id"))
                  .select("_index", "cost_fen", "detail", "_discharges", "_rank"))
    factors = {admitted: Decimal(repr(policy.special_review_factor if admitted else policy.unreviewed_factor))
               for admitted in (True, False)}
    cost_based: dict[int, Decimal] = {}
    rows = []
    for index, fen, detail, count, rank in candidates.iter_rows():
        cap = math.floor(count * policy.special_review_cap_share)
        admitted = rank < cap
        if fen not in cost_based:
            cost_based[fen] = cost_points(SettlementCase("", "", "", None, None, "", "", "", money(fen),
                                                         Decimal(0), ""), standards)
        factor = factors[admitted]
        points = _points(cost_based[fen] * factor)
        rows.append((index, "reviewed" if admitted else "unreviewed", int(points.scaleb(4)),
                     f"{detail}; {'admitted' if admitted else 'over the'} special-review cap "
                     f"({cap} of {count}): cost-based points × {factor}"))
    resolved = pl.DataFrame(rows, schema={"_index": pl.UInt32, "kind": pl.String, "points_e4": pl.Int64,
                                          "detail": pl.String}, orient="row")
    return frame.update(resolved, on="_index", how="left")


def _readmitted(frame: pl.DataFrame, policy: SettlementPolicy) -> pl.DataFrame:
    """:func:`~casemix.settlement.points.apply_readmissions`: a stay followed by the same patient's stay in the same
    ADRG within the window earns its points × the readmission factor (in Decimal: few stays are readmitted)."""
    factor = Decimal(repr(policy.readmission_factor))
    stays = (frame.filter((pl.col("patient_id") != "") & pl.col("admission_date").is_not_null()
                          & pl.col("discharge_date").is_not_null())
             .sort(["patient_id", "admission_date", "_index"])
             .select("_index", "patient_id", "adrg", "admission_date", "discharge_date", "points_e4", "detail"))
    after = {name: pl.col(name).shift(-1) for name in ("patient_id", "adrg", "admission_date", "_index")}
    gap = (after["admission_date"] - pl.col("discharge_date")).dt.total_days()
    exempt = tuple(policy.readmission_exempt_adrg_prefixes)
    exempted = pl.any_horizontal([pl.col("adrg").str.starts_with(p) for p in exempt]) if exempt else pl.lit(False)
    then = frame.select(_next="_index", _then="case_id")
    readmitted = (stays.with_columns(_gap=gap, _next=after["_index"])
                  .filter((after["patient_id"] == pl.col("patient_id")) & (pl.col("adrg") != "")
                          & (after["adrg"] == pl.col("adrg")) & ~exempted
                          & pl.col("_gap").is_between(0, policy.readmission_window_days))
                  .join(then, on="_next", how="left"))
    rows = [(index, int(_points(Decimal(points).scaleb(-4) * factor).scaleb(4)),
             f"{detail}; readmitted in {adrg} after {days} days (case {second}): × {factor}")
            for index, points, detail, adrg, days, second
            in readmitted.select("_index", "points_e4", "detail", "adrg", "_gap", "_then").iter_rows()]
    halved = pl.DataFrame(rows, schema={"_index": pl.UInt32, "points_e4": pl.Int64, "detail": pl.String},
                          orient="row")
    return frame.update(halved, on="_index", how="left")


def line_texts(lines: pl.DataFrame) -> pl.DataFrame:
    """Lines as a hospital statement prints them (its ``LINE_COLUMNS``), with ``hospital_id``: cost and points as
    Decimal prints them."""
    fen = pl.col("cost_fen")
    cost = pl.when(fen == 0).then(pl.lit("0")).otherwise(_text(fen, 2))
    return lines.select("hospital_id", "case_id", "drg", "status", "kind", cost.alias("cost"), "ratio",
                        _text(pl.col("points_e4"), 4).alias("points"), "detail")


def frame_statements(lines: pl.DataFrame) -> dict[str, HospitalStatement]:
    """:func:`~casemix.settlement.yearend.statements_of` from lines in columns: each hospital's cases, points,
    actual cost and patients' payments, summed as Decimal sums them (without the case lines)."""
    return statements_of_sums(lines.group_by("hospital_id", maintain_order=True).agg(
        pl.len().alias("cases"), pl.col("points_e4").sum(), pl.col("cost_fen").sum(),
        (pl.col("cost_fen") != 0).any().alias("costed"), pl.col("self_pay_fen").sum(),
        (pl.col("self_pay_fen") != 0).any().alias("paid")))


def statements_of_sums(sums: pl.DataFrame) -> dict[str, HospitalStatement]:
    """Each hospital's statement from its sums (``cases``, ``points_e4``, ``cost_fen``, ``self_pay_fen``) and
    whether any cost or payment was in cents (``costed``, ``paid``), the amounts as Decimal sums them."""
    columns = ["hospital_id", "cases", "points_e4", "cost_fen", "self_pay_fen", "costed", "paid"]
    return {hospital: HospitalStatement(hospital, cases, Decimal(points).scaleb(-4), actual_cost=_sum(cost, costed),
                                        self_pay=_sum(self_pay, paid))
            for hospital, cases, points, cost, self_pay, costed, paid in sums.select(columns).iter_rows()}


def _sum(fen: int, any_cents: bool) -> Decimal:
    """Σ of amounts each 0 or in cents, started from Decimal 0: cents when any amount was, else 0."""
    return Decimal(fen).scaleb(-2) if any_cents else Decimal(0)


def frame_prepayments(lines: pl.DataFrame, provisional_point_value: Decimal, policy: SettlementPolicy,
                      keep: dict[str, Decimal] | None = None) -> dict[str, Decimal]:
    """Each hospital's monthly prepayments (:func:`~casemix.settlement.yearend.monthly_prepayments`) summed for the
    year."""
    date = pl.col("discharge_date")
    month = (date.dt.year().cast(pl.String) + "-" + date.dt.month().cast(pl.String).str.zfill(2)).fill_null("")
    sums = lines.group_by("hospital_id", month.alias("month")).agg(pl.col("points_e4").sum(),
                                                                   pl.col("self_pay_fen").sum())
    points_by, self_pay_by = {}, {}
    for hospital, month_name, points, self_pay in sums.iter_rows():
        points_by[hospital, month_name] = Decimal(points).scaleb(-4)
        self_pay_by[hospital, month_name] = Decimal(self_pay).scaleb(-2)
    months = prepayments_of(points_by, self_pay_by, provisional_point_value, policy, keep)
    return {hospital: sum(m.values(), Decimal(0)) for hospital, m in months.items()}


__all__ = ["CASE_SCHEMA", "cases_frame", "frame_points", "frame_prepayments", "frame_readmitted", "frame_scored",
           "frame_statements", "line_texts", "money"]
