"""The case record: header aliases, Chinese values, money to the cent, rejections that name the field."""

from decimal import Decimal

import pytest

from casemix.records import Case, Rejection, RowReader
from casemix.records.case import to_case


def test_chinese_headers_and_values_map_onto_the_record():
    reader = RowReader(["病案号", "性别", "年龄", "主要诊断编码", "其他诊断编码1", "其他诊断编码2",
                        "手术及操作编码1", "总费用"])
    case = reader.read(["A1", "女", "33", "O80.000", "Z37.000x001", "", "73.5900", "4012.5"], 1)
    assert isinstance(case, Case)
    assert (case.sex, case.age, case.principal_dx) == (2, 33, "O80.000")
    assert case.secondary_dx == ("Z37.000x001",) and case.procedures == ("73.5900",)
    assert case.total_cost == Decimal("4012.50")


def test_one_cell_code_lists_with_any_separator():
    reader = RowReader(["Index", "gender", "age", "dx_codes_pipe", "proc_codes_pipe"])
    case = reader.read(["S1", "1", "50", "K35.800|K65.000 ;Z86.100", "47.0901，54.9101"], 1)
    assert case.principal_dx == "K35.800"
    assert case.secondary_dx == ("K65.000", "Z86.100")
    assert case.procedures == ("47.0901", "54.9101")


def test_money_rounds_half_up_to_the_cent():
    assert to_case({"id": "m", "principal_dx": "A", "total_cost": "10.005"}).total_cost == Decimal("10.01")
    assert to_case({"id": "m", "principal_dx": "A", "total_cost": 10.004}).total_cost == Decimal("10.00")


@pytest.mark.parametrize("word, sex", [("男", 1), ("女", 2), ("未知", 0), ("9", 9), ("", None)])
def test_sex_words_and_codes(word, sex):
    assert to_case({"id": "s", "principal_dx": "A", "sex": word}).sex == sex


@pytest.mark.parametrize("column, value, field", [
    ("性别", "3", "sex"), ("总费用", "十元", "total_cost"), ("年龄", "151", "age"), ("住院天数", "-2", "los_days"),
])
def test_bad_values_are_rejected_naming_record_and_field(column, value, field):
    reader = RowReader(["病案号", "主要诊断编码", column])
    rejection = reader.read(["R9", "I63.900", value], 7)
    assert isinstance(rejection, Rejection)
    assert (rejection.record_id, rejection.field, rejection.row_number) == ("R9", field, 7)
    assert str(rejection).startswith(f"record R9 field {field}:") and value in str(rejection)


def test_age_zero_without_days_is_unknown_for_newborn_rules():
    assert Case(id="n", principal_dx="P07.300", age=0).age_in_days is None
    assert Case(id="n", principal_dx="P07.300", age=0, age_days=3).age_in_days == 3
    assert Case(id="n", principal_dx="I10.x00", age=2).age_in_days == 730


def test_a_main_procedure_column_goes_first():
    reader = RowReader(["病案号", "主要诊断编码", "手术操作编码", "主要手术操作编码"])
    case = reader.read(["M1", "K35.800", "54.9101", "47.0901"], 1)
    assert case.procedures == ("47.0901", "54.9101")


@pytest.mark.parametrize("column, value, field", [
    ("出院科别", "内科\x00", "department"), ("其他诊断编码", "I10.x00,E11.9\x0000", "secondary_dx")])
def test_a_nul_byte_in_any_text_rejects_the_row_naming_the_field(column, value, field):
    rejection = RowReader(["病案号", "主要诊断编码", column]).read(["R9", "I63.900", value], 3)
    assert isinstance(rejection, Rejection)
    assert (rejection.record_id, rejection.field) == ("R9", field) and "NUL" in rejection.reason
