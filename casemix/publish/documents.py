"""The sheets of the public-review documents (公开评议材料), one source for the workbook and the printed report.

1. 预算 budget: the fund budget, its growth on last year's, the pool, reserve, points and point value;
2. 病组目录 catalogue: each DRG's weight, base points and standard cost, and whether it is a base group;
3. 系数 coefficients: each hospital's coefficient on base points and why (and the base groups' one);
4. 变化 changes: each DRG's base points against last year's catalogue, new and removed groups, large moves;
5. 特病单议 special cases: every case paid by special review, with the application and decision behind it
   (applications first, then the candidates no one applied for, paid at the unreviewed factor);
6. 年终清算 year end: the statement summary per hospital (the same rows as ``casemix settle``'s summary) and a
   total row that equals the pool.

Money is ``Decimal`` to the cent and every total is a sum of the rows above it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from casemix.publish.workbook import Sheet
from casemix.publish.year import Publication
from casemix.records.labels import LABELS
from casemix.settlement import summary_rows
from casemix.settlement.statements import SUMMARY_COLUMNS

TOTAL = "合计 total"
FOUR = Decimal("0.0001")


def publication_sheets(publication: Publication) -> list[Sheet]:
    """The six sheets, in the order a committee reads them."""
    return [budget_sheet(publication), catalogue_sheet(publication), coefficient_sheet(publication),
            changes_sheet(publication), special_sheet(publication), year_end_sheet(publication)]


def budget_sheet(p: Publication) -> Sheet:
    s = p.settlement
    points = sum((h.points for h in s.statements.values()), Decimal(0))
    adjusted = sum((h.adjusted_points for h in s.statements.values()), Decimal(0))
    self_pay = sum((h.self_pay for h in s.statements.values()), Decimal(0))
    growth = None if p.last_budget is None else ((p.budget - p.last_budget) / p.last_budget).quantize(FOUR)
    rows = [
        ["budget", "年度统筹基金预算", p.budget, "元"],
        ["last_budget", "上年统筹基金预算", p.last_budget, "元"],
        ["growth", "预算增长率", growth, "share 比例"],
        ["patient_payments", "个人支付 (计入总额)" if s.policy.include_patient_payments else "个人支付 (不计入)",
         self_pay, "元"],
        ["pool", "可分配总额", s.pool, "元"],
        ["reserve", "调节金", s.reserve, "元"],
        ["points", "总点数", points, "点"],
        ["adjusted_points", "考核调整后点数", adjusted.quantize(FOUR), "点"],
        ["point_value", "点值", s.point_value.quantize(Decimal("0.000001"), ROUND_HALF_UP), "元/点"],
        ["total_paid", "清算总额", s.total_paid, "元"],
        ["cases", "病例数", sum(h.cases for h in s.statements.values()), "例"],
        ["hospitals", "医疗机构数", len(s.statements), "家"],
    ]
    return ("预算 budget", [("item", "项目"), ("name", "名称"), ("value", "数值"), ("unit", "单位")], rows)


def catalogue_sheet(p: Publication) -> Sheet:
    table = p.weights.table
    base = p.coefficients.base_groups
    rows = [[row["drg"], row["adrg"], row["cases"], row["kept"], _cents(row["mean_cost"]), _four(row["cv"]), row["rw"],
             row["base_points"], row["standard_cost"], row["source"], "是 yes" if row["drg"] in base else ""]
            for row in table.iter_rows(named=True)]
    columns = [("drg", "DRG"), ("adrg", "ADRG"), ("cases", "病例数"), ("kept", "保留病例数"), ("mean_cost", "次均费用"),
               ("cv", "变异系数"), ("rw", "权重"), ("base_points", "基准点数"), ("standard_cost", "支付标准"),
               ("source", "来源"), ("base_group", "基础病组")]
    return ("病组目录 catalogue", columns, rows)


def coefficient_sheet(p: Publication) -> Sheet:
    rows = [[hospital, p.levels.get(hospital, ""), k.value, k.why]
            for hospital, k in sorted(p.coefficients.by_hospital.items())]
    if p.coefficients.base_groups:
        rows.append([f"基础病组 base groups ({len(p.coefficients.base_groups)})", "", p.coefficients.base.value,
                     p.coefficients.base.why])
    columns = [("hospital_id", "医疗机构"), ("hospital_level", "医院等级"), ("coefficient", "系数"), ("why", "依据")]
    return ("系数 coefficients", columns, rows)


def changes_sheet(p: Publication) -> Sheet:
    columns = [("drg", "DRG"), ("previous_base_points", "上年基准点数"), ("base_points", "基准点数"),
               ("change", "变化"), ("change_share", "变化率"), ("status", "状态")]
    if p.previous_points is None:
        return ("变化 changes", columns, [])
    current = {drg: points for drg, points in p.weights.by_drg("base_points").items() if points is not None}
    large = Decimal(repr(p.policy.publish.large_change_share))
    rows = []
    for drg in sorted(set(current) | set(p.previous_points)):
        before, now = p.previous_points.get(drg), current.get(drg)
        if before is None:
            rows.append([drg, None, now, None, None, "新增 new"])
        elif now is None:
            rows.append([drg, before, None, None, None, "取消 removed"])
        else:
            share = None if before == 0 else ((now - before) / before).quantize(FOUR)
            status = ("不变 unchanged" if now == before else
                      f"大幅调整 large change (> {large:%})" if share is None or abs(share) > large else "调整 changed")
            rows.append([drg, before, now, now - before, share, status])
    return ("变化 changes", columns, rows)


def special_sheet(p: Publication) -> Sheet:
    reviews = {r.key: r for r in p.special_reviews}
    rows = []
    for statement in sorted(p.settlement.statements.values(), key=lambda s: s.hospital_id):
        for line in statement.lines:
            review = reviews.get((line.case.hospital_id, line.case.case_id))
            if line.kind not in ("reviewed", "unreviewed") and review is None:
                continue
            a, d = (review.application, review.decision) if review else (None, None)
            rows.append([line.case.hospital_id, line.case.case_id, line.case.drg, line.kind, line.case.cost,
                         line.points, a.application_id if a else None, a.reason if a else "",
                         d.verdict if d else ("待审 pending" if a else ""), d.decided_by if d else "",
                         d.decided_at if d else "", d.note if d else "", line.detail])
    rows.sort(key=lambda row: row[6] is None)          # the applications first, then the unreviewed candidates
    columns = [("hospital_id", "医疗机构"), ("case_id", "病案号"), ("drg", "DRG"), ("kind", "类型"), ("cost", "费用"),
               ("points", "点数"), ("application_id", "申请号"), ("reason", "申请理由"), ("verdict", "审核结论"),
               ("decided_by", "审核人"), ("decided_at", "审核时间"), ("note", "审核意见"), ("detail", "说明")]
    return ("特病单议 special cases", columns, rows)


def year_end_sheet(p: Publication) -> Sheet:
    rows = summary_rows(p.settlement)
    total = [TOTAL]
    for index in range(1, len(SUMMARY_COLUMNS)):
        values = [row[index] for row in rows if row[index] is not None]
        total.append(sum(values, Decimal(0)) if SUMMARY_COLUMNS[index] != "assessment_score" and values else None)
    total[1] = sum(row[1] for row in rows)
    return ("年终清算 year end", [(key, LABELS.get(key, key)) for key in SUMMARY_COLUMNS], [*rows, total])


def _four(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value)).quantize(FOUR, ROUND_HALF_UP)


def _cents(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)
