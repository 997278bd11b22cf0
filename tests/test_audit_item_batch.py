"""The 两库 item rules over a whole batch in columns find exactly what the per-claim check finds, bill by
bill: the same rule rows, lines, amounts and evidence, in the same order. Bills are hand-made from rows
picked out of the NHSA sheets with the csv module, and the synthetic city's itemised bills with
patients, settings, insurance types and hospital levels drawn at random."""

import csv
import random
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from conftest import DATA

from casemix.audit.item_batch import check_batch, facts_frame, fee_frame
from casemix.audit.item_rules import ClaimFacts, ItemLibrary
from casemix.policy import AuditPolicy
from casemix.records.fees import FeeClassifier, FeeLine

SHEETS = DATA / "nhsa-rule-libraries"
T0 = datetime(2025, 3, 1, 9, 0)
FAMILIES = {"age", "sex", "visit_type", "insurance_type", "institution_level", "course", "frequency", "cycle",
            "duplicate_charge", "discount_group"}


def rows(name, **where):
    with (SHEETS / name).open(encoding="utf-8-sig", newline="") as f:
        return [row for row in csv.DictReader(f) if all(row[k] == v for k, v in where.items())]


def line(visit, number, code, hours=0, amount="100.00", quantity="1", price=None):
    amount, quantity = Decimal(amount), Decimal(quantity)
    return FeeLine(line_id=f"{visit}-{number}", visit_id=visit, item_code=code, time=T0 + timedelta(hours=hours),
                   amount=amount, quantity=quantity, price=Decimal(price) if price else amount / quantity)


@pytest.fixture(scope="module")
def library():
    return ItemLibrary.load(DATA)


def per_claim(library, bills, facts, policy):
    """The reference: ``ItemLibrary.check`` bill by bill, stays without findings left out."""
    return {visit: found for visit, lines in bills.items() if (found := library.check(lines, facts[visit], policy))}


def in_batch(library, bills, facts, policy, shuffle=None):
    lines = [x for bill in bills.values() for x in bill]
    if shuffle is not None:            # stays interleaved; each stay's own lines stay in bill order
        queues = [list(bill) for bill in bills.values()]
        lines = []
        while any(queues):
            lines.append(shuffle.choice([q for q in queues if q]).pop(0))
    return check_batch(library, fee_frame(lines), facts_frame(facts), policy)


def hand_made_bills():
    dup = rows("b7_item_duplicate_charge.csv", 频度="单日")[0]
    hour = rows("b7_item_duplicate_charge.csv", 频度="同一小时")[0]
    gut = [r["国标代码"] for r in rows("b2_item_primary_secondary_procedure.csv", 限定值域="胃肠手术组")[:3]]
    visit_fee = rows("b8_item_frequency.csv", 项目名称="住院诊查费")[0]["项目编码"]
    hba1c = rows("b8_item_cycle_frequency.csv", 项目名称="糖化血红蛋白测定")[0]["项目代码"]
    course = rows("b6_drug_course_rules.csv", 限定值域="14天")[0]
    course_code = rows("b6_drug_course_codes.csv", 药品通用名=course["药品通用名"])[0]["国标代码"]
    child = rows("b1_item_age.csv", 限定对象="儿童")[0]["国标代码"]
    male = rows("b1_item_sex.csv", 限定性别="男")[0]["国标代码"]
    inpatient = rows("b4_drug_visit_type_codes.csv")[0]["国标代码"]
    injury = rows("b3_drug_insurance_type_codes.csv")[0]["国标代码"]
    second = rows("b5_drug_institution_level_codes.csv")[0]["国标代码"]
    bills = {
        "A": [line("A", 1, dup["主项编码"], 0, "300.00"), line("A", 2, dup["从项编码"], 5),
              line("A", 3, dup["从项编码"], 30), line("A", 4, visit_fee, 1, "20.00"),
              line("A", 5, visit_fee, 2, "20.00", quantity="2", price="10.00")],
        "B": [line("B", 1, gut[0], 0, "3000.00"), line("B", 2, gut[1], 1, "1200.00"),
              line("B", 3, gut[2], 2, "600.00", price="1200.00"), line("B", 4, hour["主项编码"], 30),
              line("B", 5, hour["从项编码"], 30.5), line("B", 6, hour["从项编码"], 33)],
        "C": [line("C", day, course_code, 24 * day, "50.00") for day in range(16)]
        + [line("C", 20, hba1c, 0), line("C", 21, hba1c, 240), line("C", 22, hba1c, 480)],
        "D": [line("D", 1, child), line("D", 2, male, 1), line("D", 3, inpatient, 2), line("D", 4, injury, 3),
              line("D", 5, second, 4, "88.00"), line("D", 6, child.lower(), 5)],
        "E": [line("E", 1, visit_fee, 0, "20.00")],                      # compliant
    }
    facts = {"A": ClaimFacts(1, 40), "B": ClaimFacts(2, 50), "C": ClaimFacts(1, 70),
             "D": ClaimFacts(2, 40, None, "outpatient", "职工", "一级"), "E": ClaimFacts(1, 40)}
    return bills, facts


def test_every_family_on_hand_made_bills_finds_what_the_per_claim_check_finds(library):
    bills, facts = hand_made_bills()
    policy = AuditPolicy()
    expected = per_claim(library, bills, facts, policy)
    assert {f.family for found in expected.values() for f in found} == FAMILIES     # the bills touch every family
    assert "E" not in expected
    assert in_batch(library, bills, facts, policy) == expected
    assert in_batch(library, bills, facts, policy, random.Random(2)) == expected


def test_the_batch_reads_the_policy_ages_and_discount_rate(library):
    bills, facts = hand_made_bills()
    policy = AuditPolicy(working_max_age=75, child_max_age=45, secondary_procedure_rate=0.3)
    expected = per_claim(library, bills, facts, policy)
    assert in_batch(library, bills, facts, policy) == expected
    assert [f.amount for f in expected["B"] if f.family == "discount_group"] == [Decimal("840.00")]


def test_a_stay_without_facts_is_checked_with_none_known(library):
    bills, facts = hand_made_bills()
    found = check_batch(library, fee_frame(bills["D"]), facts_frame({}), AuditPolicy())
    assert found == per_claim(library, {"D": bills["D"]}, {"D": ClaimFacts()}, AuditPolicy())


def test_the_synthetic_citys_bills_give_the_same_findings_in_batch(library):
    from casemix.records.io import read_cases
    from casemix.records.synthetic import fee_code_pools, synthetic_city, synthetic_fee_lines

    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    pools = fee_code_pools(FeeClassifier.of(DATA), SHEETS)
    limited = [r["国标代码"] for name in ("b1_item_age.csv", "b1_item_sex.csv", "b4_drug_visit_type_codes.csv",
                                       "b3_drug_insurance_type_codes.csv", "b5_drug_institution_level_codes.csv")
               for r in rows(name)]
    daily = rows("b8_item_frequency.csv", 项目名称="住院诊查费")[0]["项目编码"]
    rng = random.Random(7)
    bills, facts = {}, {}
    for stay in synthetic_city(sample, hospitals=8, cases=400, seed=9):
        lines = synthetic_fee_lines(stay, pools, rng)
        extra = [line(stay.id, 9000 + k, rng.choice(limited), rng.randint(0, 48)) for k in range(rng.randint(0, 3))]
        if rng.random() < 0.1:                      # the daily consultation fee charged twice one day
            extra += [line(stay.id, 9100, daily, 1, "20.00"), line(stay.id, 9101, daily, 3, "20.00")]
        bills[stay.id] = lines + extra
        facts[stay.id] = ClaimFacts(rng.choice([1, 2, None]), rng.choice([stay.age, 5, 80, None]), stay.age_days,
                                    rng.choice(["inpatient", "outpatient"]), rng.choice(["职工", "居民", "工伤", None]),
                                    rng.choice(["一级", "二级", "三级", None]))
    policy = AuditPolicy()
    expected = per_claim(library, bills, facts, policy)
    by_family = Counter(f.family for found in expected.values() for f in found)
    assert set(by_family) == FAMILIES and sum(by_family.values()) > 400
    assert in_batch(library, bills, facts, policy) == expected


def test_casemix_audit_items_checks_a_file_of_bills_as_each_claim_is_checked(library, tmp_path):
    """The command over a case file and a fee-line file (fee_list_d names) gives, stay by stay, what the
    per-claim check gives each bill with its case's facts; a line without an amount is rejected by row."""
    from typer.testing import CliRunner

    from casemix.cli.main import app
    from casemix.records.io import read_cases, read_table, write_cases, write_table
    from casemix.records.synthetic import fee_code_pools, synthetic_city, synthetic_fee_lines

    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    pools = fee_code_pools(FeeClassifier.of(DATA), SHEETS)
    daily = rows("b8_item_frequency.csv", 项目名称="住院诊查费")[0]["项目编码"]
    stays = synthetic_city(sample, hospitals=4, cases=60, seed=3)
    rng = random.Random(5)
    bills = {s.id: synthetic_fee_lines(s, pools, rng) + [line(s.id, 9100, daily, 1, "20.00"),
                                                          line(s.id, 9101, daily, 3, "20.00")] for s in stays[:30]}
    headers = ["mdtrt_id", "feedetl_sn", "med_list_codg", "fee_ocur_time", "cnt", "pric", "det_item_fee_sumamt"]
    table = [[x.visit_id, x.line_id, x.item_code, x.time.isoformat(sep=" "), str(x.quantity), str(x.price),
              str(x.amount)] for bill in bills.values() for x in bill]
    table.append(["S-none", "bad-1", daily, "2025-03-01 09:00:00", "1", "20", ""])       # no amount
    write_table(tmp_path / "fees.csv", headers, table)
    write_cases(tmp_path / "cases.csv", stays)
    result = CliRunner().invoke(app, ["audit-items", str(tmp_path / "cases.csv"), str(tmp_path / "fees.csv"),
                                      "-o", str(tmp_path / "items.csv"), "--data", str(DATA)])
    assert result.exit_code == 0, result.output
    assert "1 rejected" in result.output and f"row {len(table)} record bad-1 field amount" in result.output
    facts = {s.id: ClaimFacts(s.sex, s.age, s.age_days, "inpatient", None, s.hospital_level) for s in stays}
    expected = per_claim(library, {v: b for v, b in bills.items()}, facts, AuditPolicy())
    written = read_table(tmp_path / "items.csv")
    at = {key: written.headers.index(next(h for h in written.headers if h.endswith(key)))
          for key in ("visit_id", "family", "line_ids", "amount")}
    got = [(r[at["visit_id"]], r[at["family"]], r[at["line_ids"]], Decimal(r[at["amount"]])) for r in written.rows]
    assert got == [(v, f.family, " ".join(f.line_ids), f.amount) for v, found in expected.items() for f in found]
    assert any(family == "frequency" for _, family, _, _ in got)
