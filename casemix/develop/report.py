"""The committee's report of local subgroup proposals: sheets of units and candidates, and a printable summary.

Sheets are ``(name, columns, rows)`` with columns as ``(key, 中文)`` pairs and numbers as numbers (costs
and RIV as ``Decimal`` to fixed places), ready for :func:`casemix.publish.write_workbook`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from casemix.develop.proposals import Development

UNIT_COLUMNS = [("unit", "单元"), ("drgs", "现行病组"), ("cases", "病例数"), ("kept", "保留病例数"),
                ("mean_cost", "次均费用"), ("cv", "变异系数"), ("current_riv", "现行细分RIV"),
                ("best_split", "建议细分"), ("best_riv_gain", "建议RIV增益"), ("candidates", "候选数")]
CANDIDATE_COLUMNS = [("unit", "单元"), ("kind", "类型"), ("split", "细分条件"), ("cases_in", "符合例数"),
                     ("mean_cost_in", "符合次均费用"), ("split_out", "其余"), ("cases_out", "其余例数"),
                     ("mean_cost_out", "其余次均费用"), ("cases_unknown", "无法判断例数"), ("riv_gain", "RIV增益"),
                     ("overall_riv_change", "全区RIV变化"), ("years_consistent", "一致年数"),
                     ("years_measured", "可比年数"), ("verdict", "结论"), ("reason", "理由")]
ACCOUNT_COLUMNS = [("where", "去向"), ("stays", "病例数")]


def _fixed(value: float | None, places: str) -> Decimal | None:
    return None if value is None else Decimal(repr(value)).quantize(Decimal(places), ROUND_HALF_UP)


def development_sheets(found: Development) -> list[tuple[str, list[tuple[str, str]], list[list[object]]]]:
    """Three sheets: one row per examined unit, one per candidate, and where every stay read went."""
    units, candidates = [], []
    for unit in found.units:
        best = unit.best
        units.append([unit.code, " ".join(unit.drgs), unit.cases, unit.kept, _fixed(unit.mean_cost, "0.01"),
                      _fixed(unit.cv, "0.0001"), _fixed(unit.current_riv, "0.0001"), best.split if best else "",
                      _fixed(best.riv_gain, "0.0001") if best else None, len(unit.candidates)])
        candidates += [[unit.code, c.kind, c.split, c.cases_in, _fixed(c.mean_cost_in, "0.01"), c.split_out,
                        c.cases_out, _fixed(c.mean_cost_out, "0.01"), c.cases_unknown, _fixed(c.riv_gain, "0.0001"),
                        _fixed(c.overall_riv_change, "0.000001"), c.years_consistent, c.years_measured, c.verdict,
                        c.reason] for c in unit.candidates]
    accounts = [[where, n] for where, n in sorted(found.accounting.items())]
    return [("单元 units", UNIT_COLUMNS, units), ("候选细分 candidates", CANDIDATE_COLUMNS, candidates),
            ("病例去向 stays", ACCOUNT_COLUMNS, accounts)]


def development_summary(found: Development, shown: int = 15) -> str:
    """A short printable summary (Markdown): the years, the thresholds, and the best proposals."""
    p = found.policy
    years = ", ".join(f"year {i + 1}: {n:,}" for i, n in enumerate(found.stays_by_year))
    lines = [
        "# 本地细分组建议 Local subgroup proposals", "",
        f"History: {years} stays. Units ({p.unit.upper()}) examined: {len(found.units)} "
        f"(CV ≥ {p.min_cv:g}, ≥ {2 * p.min_group_cases} kept stays); proposals: {len(found.proposals)} "
        f"(each side ≥ {p.min_group_cases} stays, RIV gain ≥ {p.min_riv_gain:g}"
        f"{', consistent in every year' if p.require_consistent_years else ''}).", "",
        "| unit | stays | CV | current RIV | proposed split | stays in / out | mean cost in / out (元) | RIV gain "
        "| region RIV change |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for unit in found.proposals[:shown]:
        c = unit.best
        current = "—" if unit.current_riv is None else f"{unit.current_riv:.3f}"
        lines.append(f"| {unit.code} | {unit.kept:,} | {unit.cv:.2f} | {current} | {c.split} | {c.cases_in:,} / "
                     f"{c.cases_out:,} | {c.mean_cost_in:,.0f} / {c.mean_cost_out:,.0f} | {c.riv_gain:.3f} | "
                     f"{c.overall_riv_change:+.4f} |")
    lines += ["", "Stays read: " + "; ".join(f"{where} {n:,}" for where, n in sorted(found.accounting.items()))]
    return "\n".join(lines)
