"""两库 item rules on hand-made bills: each family finds the lines that break a published row, names
the row and the amount at stake, and leaves a compliant bill alone. Rows are picked from the NHSA
sheets with the csv module, independently of the loader under test."""

import csv
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from conftest import DATA

from casemix.audit.item_rules import ClaimFacts, ItemLibrary
from casemix.errors import RuleError
from casemix.policy import AuditPolicy, load_policy
from casemix.records.fees import FeeLine

SHEETS = DATA / "nhsa-rule-libraries"
D = Decimal
T0 = datetime(2025, 3, 1, 9, 0)


def sheet(name, **where):
    """The first row of a sheet matching ``where``, with its 1-based row number."""
    with (SHEETS / name).open(encoding="utf-8-sig", newline="") as f:
        for number, row in enumerate(csv.DictReader(f), 1):
            if all(row[key] == value for key, value in where.items()):
                return number, row
    raise AssertionError(f"no row {where} in {name}")


def line(line_id, code, at=T0, amount="100.00", quantity="1", price=None, name=None):
    return FeeLine(line_id=line_id, visit_id="V1", item_code=code, time=at, amount=D(amount), quantity=D(quantity),
                   price=D(price) if price else D(amount) / D(quantity), item_name=name)


@pytest.fixture(scope="module")
def library():
    return ItemLibrary.load(DATA)


def check(library, lines, **facts):
    return library.check(lines, ClaimFacts(**{"sex": 1, "age": 40, **facts}), AuditPolicy())


def test_an_included_item_charged_beside_its_main_item_the_same_day_is_charged_twice(library):
    number, row = sheet("b7_item_duplicate_charge.csv", 频度="单日")
    main, included = line("m", row["主项编码"], amount="300.00"), line("i", row["从项编码"], T0 + timedelta(hours=5))
    findings = [f for f in check(library, [main, included]) if f.family == "duplicate_charge"]
    assert [(f.line_ids, f.amount, f.source) for f in findings] == \
        [(("i",), D("100.00"), f"b7_item_duplicate_charge.csv row {number}")]
    next_day = line("i", row["从项编码"], T0 + timedelta(days=1))
    assert not [f for f in check(library, [main, next_day]) if f.source.endswith(f"row {number}")]


def test_within_the_same_hour_means_within_an_hour(library):
    number, row = sheet("b7_item_duplicate_charge.csv", 频度="同一小时")
    main = line("m", row["主项编码"])
    close = line("i", row["从项编码"], T0 + timedelta(minutes=30))
    later = line("i", row["从项编码"], T0 + timedelta(hours=2))
    assert [f.source for f in check(library, [main, close])] == [f"b7_item_duplicate_charge.csv row {number}"]
    assert check(library, [main, later]) == []


def test_a_second_procedure_of_one_surgical_group_charged_in_full_is_found_at_the_discount_rate(library):
    (_, first), (_, second) = sheet("b2_item_primary_secondary_procedure.csv", 限定值域="胃肠手术组"), \
        sheet("b2_item_primary_secondary_procedure.csv", 国标代码="003310010160000")
    main = line("a", first["国标代码"], amount="3000.00")
    full = line("b", second["国标代码"], amount="1200.00")
    findings = check(library, [main, full])
    assert [(f.family, f.line_ids, f.amount) for f in findings] == [("discount_group", ("b",), D("600.00"))]
    discounted = line("b", second["国标代码"], amount="600.00", price="1200.00")
    assert check(library, [main, discounted]) == []


def test_more_than_the_daily_limit_is_found_with_the_excess_amount(library):
    number, row = sheet("b8_item_frequency.csv", 项目名称="住院诊查费")
    twice = [line("a", row["项目编码"], amount="20.00"), line("b", row["项目编码"], T0 + timedelta(hours=3), "20.00")]
    findings = check(library, twice)
    assert [(f.line_ids, f.amount, f.source) for f in findings] == \
        [(("a", "b"), D("20.00"), f"b8_item_frequency.csv row {number}")]
    assert check(library, [twice[0], line("b", row["项目编码"], T0 + timedelta(days=1), "20.00")]) == []


def test_a_test_repeated_inside_its_cycle_is_found(library):
    _, row = sheet("b8_item_cycle_frequency.csv", 项目名称="糖化血红蛋白测定")
    code = row["项目代码"]
    assert [f.line_ids for f in check(library, [line("a", code), line("b", code, T0 + timedelta(days=10))])] == [("b",)]
    assert check(library, [line("a", code), line("b", code, T0 + timedelta(days=20))]) == []


def test_a_drug_paid_beyond_its_course_is_found_for_the_days_after(library):
    _, rule = sheet("b6_drug_course_rules.csv", 限定值域="14天")
    _, coded = sheet("b6_drug_course_codes.csv", 药品通用名=rule["药品通用名"])
    daily = [line(f"d{day}", coded["国标代码"], T0 + timedelta(days=day), "50.00") for day in range(16)]
    findings = check(library, daily)
    assert [(f.family, f.line_ids, f.amount) for f in findings] == [("course", ("d14", "d15"), D("100.00"))]
    assert check(library, daily[:14]) == []


def test_age_and_sex_limits_of_items(library):
    _, child = sheet("b1_item_age.csv", 限定对象="儿童")
    _, newborn = sheet("b1_item_age.csv", 限定对象="新生儿")
    _, male = sheet("b1_item_sex.csv", 限定性别="男")
    assert [f.family for f in check(library, [line("a", child["国标代码"])], age=40)] == ["age"]
    assert check(library, [line("a", child["国标代码"])], age=10) == []
    assert [f.family for f in check(library, [line("a", newborn["国标代码"])], age=0, age_days=100)] == ["age"]
    assert check(library, [line("a", newborn["国标代码"])], age=0, age_days=10) == []
    assert [f.family for f in check(library, [line("a", male["国标代码"])], sex=2)] == ["sex"]
    assert check(library, [line("a", male["国标代码"])], sex=1) == []


def test_drug_limits_by_visit_type_insurance_and_hospital_level(library):
    codes = {stem: sheet(f"{stem}_codes.csv")[1]["国标代码"]
             for stem in ("b4_drug_visit_type", "b3_drug_insurance_type", "b5_drug_institution_level")}
    inpatient_only = [line("a", codes["b4_drug_visit_type"])]
    assert [f.family for f in check(library, inpatient_only, setting="outpatient")] == ["visit_type"]
    assert check(library, inpatient_only, setting="inpatient") == []
    injury_only = [line("a", codes["b3_drug_insurance_type"])]
    assert [f.family for f in check(library, injury_only, insurance="职工")] == ["insurance_type"]
    assert check(library, injury_only, insurance="工伤") == [] and check(library, injury_only) == []
    second_level = [line("a", codes["b5_drug_institution_level"], amount="88.00")]
    found = check(library, second_level, hospital_level="一级")
    assert [(f.family, f.amount) for f in found] == [("institution_level", D("88.00"))] and "一级" in found[0].evidence
    assert check(library, second_level, hospital_level="三级") == []


def test_a_bureau_adds_its_own_rows_in_the_same_layout(tmp_path):
    (tmp_path / "b7_item_duplicate_charge.csv").write_text(
        "序号,频度,主项名称,主项编码,从项名称,从项编码,备注\n1,单次就诊,本地套餐,LOCAL0001,本地子项,LOCAL0002,本地规则\n",
        encoding="utf-8")
    library = ItemLibrary.load(DATA, tmp_path)
    findings = check(library, [line("m", "LOCAL0001"), line("i", "LOCAL0002", T0 + timedelta(days=3))])
    assert [f.source for f in findings] == ["b7_item_duplicate_charge.csv row 1"] and "本地套餐" in findings[0].evidence


def test_a_bad_row_is_refused_naming_the_file_row_and_column(tmp_path):
    (tmp_path / "b7_item_duplicate_charge.csv").write_text(
        "序号,频度,主项名称,主项编码,从项名称,从项编码,备注\n1,每周,本地套餐,LOCAL0001,本地子项,LOCAL0002,\n",
        encoding="utf-8")
    with pytest.raises(RuleError, match="b7_item_duplicate_charge.csv row 1: 频度 '每周'"):
        ItemLibrary.load(DATA, tmp_path)


def test_synthetic_fee_lines_add_up_to_the_stays_charges_by_the_national_classes():
    import random

    from casemix.records.fees import FeeClassifier
    from casemix.records.io import read_cases
    from casemix.records.synthetic import fee_code_pools, synthetic_city, synthetic_fee_lines

    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    classifier = FeeClassifier.of(DATA)
    pools = fee_code_pools(classifier, SHEETS)
    rng = random.Random(1)
    for stay in synthetic_city(sample, hospitals=5, cases=200, seed=4):
        lines = synthetic_fee_lines(stay, pools, rng)
        assert sum((x.amount for x in lines), D(0)) == stay.total_cost
        assert classifier.categories(lines) == {k: v for k, v in stay.fees.items() if v}
        days = {x.time.date() for x in lines if classifier.classify(x).category_key == "bed"}
        assert len(days) == max(stay.los_days, 1)                   # a bed line for every day of the stay


def test_one_claim_with_its_fee_lines_gets_stay_flags_and_item_findings_with_the_amount_at_stake(library, g20):
    from casemix.audit import Auditor, ClaimAuditor, Norms
    from casemix.grouping import GroupedCase
    from casemix.records.fees import FeeClassifier
    from casemix.records.io import read_cases

    sample, _ = read_cases(DATA / "samples" / "cases_13239_with_cost.csv")
    history = [GroupedCase(c, g20.group(c, explain=False)) for c in sample[:2000]]
    auditor = Auditor.learned(load_policy(), g20.scheme, history)
    assert isinstance(auditor.norms, Norms)
    claims = ClaimAuditor(auditor, library, FeeClassifier.of(DATA))
    _, row = sheet("b8_item_frequency.csv", 项目名称="住院诊查费")
    case = sample[0].model_copy(update={"fees": None, "hospital_level": "二级"})
    stay = GroupedCase(case, g20.group(case, explain=False))
    found = claims.audit(stay, [line("a", row["项目编码"], amount="20.00"), line("b", row["项目编码"], amount="20.00")])
    assert [f.family for f in found.items] == ["frequency"] and found.amount_at_stake == D("20.00")
