"""Outpatient audit: each rule fires on a hand-made visit that breaks it (codes read from the 两库 sheets here, with
the csv module) and stays silent on visits that do not."""

import csv
from datetime import date, timedelta
from decimal import Decimal

import polars as pl
import pytest

from casemix.outpatient.audit import RULES, audit_visits
from casemix.outpatient.grouping import ApgGrouper
from casemix.outpatient.scheme import load_scheme
from casemix.outpatient.visits import Visit, visit_frames
from casemix.policy import load_policy
from casemix.records.fees import FeeLine

DAY = date(2025, 5, 5)


def first_row(data_dir, sheet: str, **where: str) -> dict[str, str]:
    with (data_dir / "nhsa-rule-libraries" / sheet).open(encoding="utf-8-sig", newline="") as f:
        return next(r for r in csv.DictReader(f) if all(r[k] == v for k, v in where.items()))


def visit(visit_id: str, patient: str, day: date, dx: str, codes: list[str], hospital: str = "H1") -> Visit:
    lines = tuple(FeeLine(line_id=f"{visit_id}-{n}", visit_id=visit_id, item_code=code, amount=Decimal("50"))
                  for n, code in enumerate(codes, 1))
    return Visit(id=visit_id, patient_id=patient, hospital_id=hospital, hospital_level="二级", visit_date=day,
                 diagnoses=(dx,), total_cost=Decimal(50 * len(codes)), lines=lines)


@pytest.fixture(scope="module")
def flags(data_dir):
    b7 = first_row(data_dir, "b7_item_duplicate_charge.csv")
    b2 = [r["国标代码"] for r in csv.DictReader((data_dir / "nhsa-rule-libraries" /
                                                "b2_item_primary_secondary_procedure.csv").open(encoding="utf-8-sig"))
          if r["限定值域"] == "胃肠手术组"][:2]
    daily = first_row(data_dir, "b8_item_frequency.csv", 数量单位="日")
    hba1c = first_row(data_dir, "b8_item_cycle_frequency.csv", 项目名称="糖化血红蛋白测定")["项目代码"]
    visits = [
        visit("SPLIT-1", "P-split", DAY, "K29.700", ["001102000010000"]),
        visit("SPLIT-2", "P-split", DAY + timedelta(days=2), "K29.500", ["001102000010000"]),
        *[visit(f"MANY-{n}", "P-many", DAY.replace(day=1) + timedelta(days=3 * n), f"{chr(65 + n)}00.000",
                ["001102000010000"]) for n in range(9)],
        visit("B7", "P-b7", DAY, "J06.900", [b7["主项编码"], b7["从项编码"]]),
        visit("B2", "P-b2", DAY, "K63.500", b2),
        visit("A1C-1", "P-a1c", DAY, "E11.900", [hba1c]),
        visit("A1C-2", "P-a1c", DAY + timedelta(days=10), "E11.900", [hba1c]),
        visit("DAY", "P-day", DAY, "R50.900", [daily["项目编码"]] * (int(daily["限制数量"]) + 1)),
        visit("CLEAN-1", "P-clean", DAY, "J06.900", ["001102000010000", hba1c]),
        visit("CLEAN-2", "P-clean", DAY + timedelta(days=20), "J06.900", ["001102000010000", hba1c]),
    ]
    policy = load_policy()
    grouped = ApgGrouper(load_scheme(), policy.outpatient, data_dir).group(*visit_frames(visits))
    return audit_visits(grouped, policy, data_dir)


@pytest.mark.parametrize("rule, patient, visits", [
    ("decomposed_visit", "P-split", "SPLIT-1|SPLIT-2"),
    ("repeated_visits", "P-many", "|".join(f"MANY-{n}" for n in range(9))),
    ("duplicate_charge", "P-b7", "B7"),
    ("primary_secondary", "P-b2", "B2"),
    ("cycle_limit", "P-a1c", "A1C-1|A1C-2"),
    ("daily_limit", "P-day", "DAY"),
])
def test_each_rule_flags_the_visit_that_breaks_it(flags, rule, patient, visits):
    found = flags.filter((pl.col("rule") == rule) & (pl.col("patient_id") == patient))
    assert found["visit_ids"].to_list() == [visits]
    assert found["title"][0] == RULES[rule] and found["evidence"][0]


def test_visits_that_keep_the_rules_are_not_flagged(flags):
    assert flags.filter(pl.col("patient_id") == "P-clean").height == 0
    assert set(flags["rule"]) == set(RULES)
