"""One statement per hospital for the whole "DRG + DIP + APG" year (OUTPATIENT.md §6.5), reconciled to the cent.

Per hospital: A inpatient (DRG or DIP points, point value, amount, fund due; from
``casemix.settlement``'s :class:`~casemix.settlement.Settlement`), B outpatient APG points, point value and
amount per fund, B′ chronic quotas (门诊慢特病), C capitation (gross, referral deduction, own cost,
surplus or deficit, payment), and the total the fund pays. The checks, each written as ``expected =
actual`` to the cent, are that each budget equals what it paid out:

- inpatient: Σ hospitals' inpatient totals = the inpatient pool;
- per fund: budget = chronic quotas + capitation share + APG pot, and Σ APG amounts = APG pot + transfer;
- capitation: pot = Σ payments + Σ referral deductions + retained, Σ referral deductions = Σ transfers;
- outpatient: Σ hospitals' APG amounts + quotas + capitation payments + retained = Σ fund budgets.

:func:`unified_statements` raises :class:`~casemix.errors.SettlementError` if any check fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from casemix.errors import SettlementError
from casemix.outpatient.capitation import CapitationSettlement
from casemix.outpatient.settlement import OutpatientSettlement
from casemix.settlement import Settlement

ZERO = Decimal("0.00")


@dataclass
class HospitalYear:
    """One hospital's year across settings; money in Decimal to the cent."""

    hospital_id: str
    inpatient_cases: int = 0
    inpatient_points: Decimal = Decimal(0)
    inpatient_amount: Decimal = ZERO
    inpatient_fund_due: Decimal = ZERO
    outpatient_visits: dict[str, int] = field(default_factory=dict)
    outpatient_points: dict[str, Decimal] = field(default_factory=dict)
    outpatient_amount: dict[str, Decimal] = field(default_factory=dict)
    chronic_quota: Decimal = ZERO
    capitation_gross: Decimal = ZERO
    referral_deduction: Decimal = ZERO
    capitation_own_cost: Decimal = ZERO
    capitation_balance: Decimal = ZERO
    capitation_payment: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        """What the fund pays the hospital for the year: inpatient fund due + APG + quotas + capitation."""
        return (
            self.inpatient_fund_due
            + sum(self.outpatient_amount.values(), ZERO)
            + self.chronic_quota
            + self.capitation_payment
        )


@dataclass(frozen=True)
class Check:
    """One reconciliation: what a budget says (expected) against what was paid out (actual), to the cent."""

    label: str
    expected: Decimal
    actual: Decimal

    @property
    def ok(self) -> bool:
        """True when the two agree to the cent."""
        return self.expected == self.actual


@dataclass(frozen=True)
class UnifiedStatements:
    """Every hospital's year, the point values, and the reconciliation checks (all pass, or it was not built)."""

    hospitals: list[HospitalYear]
    inpatient_point_value: Decimal | None
    outpatient_point_values: dict[str, Decimal]
    checks: list[Check]
    scheme_banner: str

    def write(self, folder: str | Path) -> list[Path]:
        """``unified-statements.xlsx`` (a summary sheet, one sheet per hospital, the checks) and the summary as CSV."""
        from openpyxl import Workbook

        from casemix.records.io import append_inert, sheet_title, write_table

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        headers, rows = self.summary()
        workbook = Workbook()
        summary = workbook.active
        summary.title = "汇总 summary"
        append_inert(summary, [self.scheme_banner])
        append_inert(summary, headers)
        for row in rows:
            append_inert(summary, row)
        for hospital in self.hospitals:
            sheet = workbook.create_sheet(sheet_title(hospital.hospital_id))
            for line in self.sections(hospital):
                append_inert(sheet, line)
        checks = workbook.create_sheet("对账 reconciliation")
        append_inert(checks, ["核对项 check", "应为 expected", "实际 actual", "相符 ok"])
        for check in self.checks:
            append_inert(checks, [check.label, str(check.expected), str(check.actual), "✓" if check.ok else "✗"])
        xlsx = folder / "unified-statements.xlsx"
        workbook.save(xlsx)
        csv_path = write_table(folder / "unified-statements.csv", headers, rows)
        return [xlsx, csv_path]

    def funds(self) -> list[str]:
        """The outpatient fund pots, sorted (``310``, ``390`` or ``all``)."""
        return sorted(self.outpatient_point_values)

    def summary(self) -> tuple[list[str], list[list[str]]]:
        """One row per hospital, bilingual headers."""
        funds = self.funds()
        headers = (
            [
                "医院 hospital",
                "住院病例 inpatient cases",
                "住院点数 inpatient points",
                "住院金额 inpatient amount",
                "住院基金应付 inpatient fund due",
            ]
            + [f"门诊点数 APG points {f}" for f in funds]
            + [f"门诊金额 APG amount {f}" for f in funds]
            + [
                "慢特病定额 chronic quotas",
                "按人头总额 capitation gross",
                "转诊扣减 referral deduction",
                "按人头支付 capitation payment",
                "基金合计 fund total",
            ]
        )
        rows = [
            [
                h.hospital_id,
                str(h.inpatient_cases),
                f"{h.inpatient_points:.4f}",
                str(h.inpatient_amount),
                str(h.inpatient_fund_due),
            ]
            + [f"{h.outpatient_points.get(f, Decimal(0)):.4f}" for f in funds]
            + [str(h.outpatient_amount.get(f, ZERO)) for f in funds]
            + [
                str(h.chronic_quota),
                str(h.capitation_gross),
                str(h.referral_deduction),
                str(h.capitation_payment),
                str(h.total),
            ]
            for h in self.hospitals
        ]
        return headers, rows

    def sections(self, hospital: HospitalYear) -> list[list[str]]:
        """The hospital's statement as labelled lines: A inpatient, B outpatient, C capitation, total."""
        lines = [
            [self.scheme_banner],
            [f"医院 hospital {hospital.hospital_id}"],
            ["A 住院 inpatient (DRG/DIP)", "病例 cases", str(hospital.inpatient_cases)],
            ["", "点数 points", f"{hospital.inpatient_points:.4f}"],
            ["", "点值 point value", f"{self.inpatient_point_value or 0:.6f}"],
            ["", "金额 amount", str(hospital.inpatient_amount)],
            ["", "基金应付 fund due", str(hospital.inpatient_fund_due)],
        ]
        for fund in self.funds():
            lines += [
                [f"B 门诊 APG outpatient ({fund})", "就诊 visits", str(hospital.outpatient_visits.get(fund, 0))],
                ["", "点数 points", f"{hospital.outpatient_points.get(fund, Decimal(0)):.4f}"],
                ["", "点值 point value", f"{self.outpatient_point_values[fund]:.6f}"],
                ["", "金额 amount", str(hospital.outpatient_amount.get(fund, ZERO))],
            ]
        lines += [
            ["B′ 门诊慢特病 chronic quotas", "基金支付 fund paid", str(hospital.chronic_quota)],
            ["C 按人头 capitation", "总额 gross", str(hospital.capitation_gross)],
            ["", "转诊扣减 referral deduction", str(hospital.referral_deduction)],
            ["", "自身费用 own cost", str(hospital.capitation_own_cost)],
            ["", "结余(+)/超支(−) balance", str(hospital.capitation_balance)],
            ["", "支付 payment", str(hospital.capitation_payment)],
            ["合计 total", "基金支付 fund pays", str(hospital.total)],
        ]
        return lines


def unified_statements(
    inpatient: Settlement | None,
    outpatient: OutpatientSettlement,
    capitation: CapitationSettlement | None,
    scheme_banner: str = "",
) -> UnifiedStatements:
    """Each hospital's inpatient, outpatient and capitation year in one statement, with the budgets reconciled.

    Raises SettlementError naming the first check that does not hold to the cent.
    """
    hospitals: dict[str, HospitalYear] = {}

    def year(hospital_id: str) -> HospitalYear:
        """The hospital's row, made on first use."""
        return hospitals.setdefault(hospital_id, HospitalYear(hospital_id))

    if inpatient is not None:
        include = inpatient.policy.include_patient_payments
        for hospital_id, statement in inpatient.statements.items():
            row = year(hospital_id)
            row.inpatient_cases, row.inpatient_points = statement.cases, statement.adjusted_points
            row.inpatient_amount, row.inpatient_fund_due = statement.total, statement.fund_due(include)
    for fund, pot in outpatient.pots.items():
        for hospital_id, statement in pot.settlement.statements.items():
            row = year(hospital_id)
            row.outpatient_visits[fund] = statement.cases
            row.outpatient_points[fund] = statement.adjusted_points
            row.outpatient_amount[fund] = statement.total
    for hospital_id, amount in outpatient.chronic_quota_by_hospital.items():
        year(hospital_id).chronic_quota = amount
    for institution, line in capitation.institutions.items() if capitation else ():
        row = year(institution)
        row.capitation_gross, row.referral_deduction = line.gross, line.referral_deduction
        row.capitation_own_cost, row.capitation_balance, row.capitation_payment = (
            line.own_cost,
            line.balance,
            line.payment,
        )
    checks = _checks(list(hospitals.values()), inpatient, outpatient, capitation)
    failed = [c for c in checks if not c.ok]
    if failed:
        raise SettlementError(
            f"unified statements do not reconcile: {failed[0].label}: expected {failed[0].expected}, "
            f"got {failed[0].actual}"
        )
    return UnifiedStatements(
        sorted(hospitals.values(), key=lambda h: h.hospital_id),
        inpatient.point_value if inpatient else None,
        outpatient.point_values(),
        checks,
        scheme_banner,
    )


def _checks(
    hospitals: list[HospitalYear],
    inpatient: Settlement | None,
    outpatient: OutpatientSettlement,
    capitation: CapitationSettlement | None,
) -> list[Check]:
    checks = []
    if inpatient is not None:
        checks.append(
            Check(
                "住院 inpatient: Σ hospital totals = pool",
                inpatient.pool,
                sum((h.inpatient_amount for h in hospitals), ZERO),
            )
        )
    for fund, pot in outpatient.pots.items():
        checks.append(
            Check(
                f"门诊 {fund}: budget = chronic quotas + capitation share + APG pot",
                pot.budget,
                pot.chronic_quota + pot.capitation_share + pot.apg_pot,
            )
        )
        checks.append(
            Check(
                f"门诊 {fund}: Σ hospital APG amounts = APG pot + referral transfer",
                pot.apg_pot + pot.referral_transfer,
                sum((h.outpatient_amount.get(fund, ZERO) for h in hospitals), ZERO),
            )
        )
    checks.append(
        Check(
            "门诊慢特病: Σ hospital quotas = Σ fund quotas",
            sum((p.chronic_quota for p in outpatient.pots.values()), ZERO),
            sum((h.chronic_quota for h in hospitals), ZERO),
        )
    )
    retained = ZERO
    if capitation is not None:
        retained = capitation.retained_by_fund
        checks.append(
            Check(
                "按人头: pot = Σ capitation shares",
                capitation.pot,
                sum((p.capitation_share for p in outpatient.pots.values()), ZERO),
            )
        )
        checks.append(
            Check(
                "按人头: pot = Σ payments + Σ referral deductions + retained",
                capitation.pot,
                sum((h.capitation_payment + h.referral_deduction for h in hospitals), ZERO) + retained,
            )
        )
        checks.append(
            Check(
                "按人头: Σ referral deductions = Σ transfers",
                sum((p.referral_transfer for p in outpatient.pots.values()), ZERO),
                sum((h.referral_deduction for h in hospitals), ZERO),
            )
        )
    paid = sum(
        (sum(h.outpatient_amount.values(), ZERO) + h.chronic_quota + h.capitation_payment for h in hospitals), ZERO
    )
    checks.append(
        Check(
            "门诊 outpatient: Σ paid + retained = Σ fund budgets",
            sum((p.budget for p in outpatient.pots.values()), ZERO),
            paid + retained,
        )
    )
    return checks
