"""Fee lines: fee_list_d and Chinese headers, money to the cent, rejections naming the field, and the class of
a line read from the national code classes (expected classes taken from the tables' own rows, cited by line)."""

import csv
from decimal import Decimal

import pytest

from casemix.records.case import Rejection
from casemix.records.fees import FeeClassifier, FeeLine, FeeLineReader, read_fee_lines, read_fee_rows
from casemix.records.io import write_table


@pytest.fixture(scope="module")
def classifier(data_dir):
    return FeeClassifier.of(data_dir)


def test_national_platform_headers_map_onto_the_line():
    reader = FeeLineReader(["bkkp_sn", "mdtrt_id", "setl_id", "fee_ocur_time", "med_list_codg", "hilist_code",
                            "med_chrgitm_type", "cnt", "pric", "det_item_fee_sumamt", "bilg_dept_codg", "chrgitm_lv"])
    line = reader.read(["B1", "M1", "S1", "2025-03-01 08:30:00", "002201000010000", "X", "3", "2", "35.5",
                        "71.004", "A03.01", "甲"], 1)
    assert isinstance(line, FeeLine)
    assert (line.line_id, line.visit_id, line.settlement_id, line.charge_type) == ("B1", "M1", "S1", "03")
    assert (line.quantity, line.price, line.amount) == (Decimal(2), Decimal("35.5"), Decimal("71.00"))
    assert (line.time.hour, line.department, line.charge_level, line.code) == (8, "A03.01", "1", "002201000010000")


def test_chinese_headers_and_compact_dates():
    reader = FeeLineReader(["就诊ID", "医疗目录编码", "数量", "单价", "明细项目费用总额", "费用发生时间"])
    line = reader.read(["M2", "001101000010000", "1", "6", "6", "20250301"], 4)
    assert (line.visit_id, line.line_id, line.time.day, line.amount) == ("M2", "M2#4", 1, Decimal("6.00"))


@pytest.mark.parametrize("column, value, field", [
    ("明细项目费用总额", "十元", "amount"), ("数量", "two", "quantity"), ("医疗收费项目类别", "99", "charge_type"),
    ("费用发生时间", "2025-13-40", "time"),
])
def test_bad_values_are_rejected_naming_record_and_field(column, value, field):
    row = {"记账流水号": "L7", "就诊ID": "M7", "医疗目录编码": "001101000010000", "明细项目费用总额": "5"}
    row[column] = value
    rejection = FeeLineReader(list(row)).read(list(row.values()), 9)
    assert isinstance(rejection, Rejection)
    assert (rejection.record_id, rejection.field, rejection.row_number) == ("L7", field, 9)
    assert value in str(rejection)


def test_a_line_must_say_what_was_charged():
    rejection = FeeLineReader(["mdtrt_id", "det_item_fee_sumamt"]).read(["M1", "3"], 2)
    assert isinstance(rejection, Rejection) and rejection.field == "item_code"


def test_a_header_without_visit_or_amount_is_a_table_error(tmp_path):
    from casemix.errors import TableError

    path = write_table(tmp_path / "lines.csv", ["mdtrt_id", "cnt"], [["M1", "1"]])
    with pytest.raises(TableError, match="lines.csv: no amount column"):
        read_fee_lines(path)


@pytest.mark.parametrize("suffix, encoding", [(".csv", "gb18030"), (".csv", "utf-8-sig"), (".xlsx", None),
                                              (".parquet", None)])
def test_rows_in_equal_lines_plus_rejections_in_every_format(tmp_path, suffix, encoding):
    headers = ["就诊ID", "医疗目录编码", "明细项目费用总额", "医疗收费项目类别"]
    rows = [["M1", "001101000010000", "6", "13"], ["M1", "XC09AAE056A001010100001", "-12.5", "09"],
            ["M2", "", "abc", "04"], ["M3", "", "4", ""]]
    kwargs = {"encoding": encoding} if encoding else {}
    path = write_table(tmp_path / f"lines{suffix}", headers, rows, **kwargs)
    numbered = read_fee_rows(path)
    lines, rejections = read_fee_lines(path)
    assert len(numbered) == len(rows) == len(lines) + len(rejections)
    assert [line.amount for line in lines] == [Decimal("6.00"), Decimal("-12.50")]
    assert [(r.row_number, r.field) for r in rejections] == [(3, "amount"), (4, "item_code")]


def _row(data_dir, table: str, number: int) -> dict[str, str]:
    """Row ``number`` (1 = first under the header) of a class table, read here with the csv module."""
    with (data_dir / "nhsa-code-classes" / table).open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))[number - 1]


@pytest.mark.parametrize("code, table, row, category", [
    ("001101000010000", "service_item_classes.csv", 283, "挂号费"),          # 1101 挂号 (国标 001101)
    ("001102000010000", "service_item_classes.csv", 285, "诊察费"),          # 1102 诊查 → 诊察费
    ("002201000010000", "service_item_classes.csv", 427, "检查费"),          # 2201 A超检查
    ("002502030010000", "service_item_classes.csv", 789, "化验费"),          # 250203 凝血检查, not 2502's row
    ("003310020010000", "service_item_classes.csv", 192, "手术费"),          # 331002 胃手术
    ("XC09AAE056A001010100001", "drug_classes.csv", 679, "西药费"),          # XC09A beats XC09
    ("ZA01AAA0001010104321", "drug_classes.csv", 61, "中成药费"),            # ZA01A 辛温解表剂 (成药费)
    ("T000100001", "drug_classes.csv", 57, "中药饮片费"),                    # T00010 饮片 (草药费)
    ("C0305010790000012345", "consumable_classes.csv", 20, "卫生材料费"),     # C030501079 螺钉
])
def test_lines_fall_in_the_class_of_their_longest_prefix(classifier, data_dir, code, table, row, category):
    expected = _row(data_dir, table, row)
    found = classifier.classify(FeeLine(line_id="1", visit_id="v", item_code=code, amount=Decimal(1)))
    assert (found.class_code, found.class_name) == (expected["类目编码"], expected["类目名称"])
    assert found.category == category
    assert found.source.startswith(table) and found.category in found.explain()


def test_unknown_codes_fall_back_on_the_declared_charge_type_then_other(classifier):
    declared = classifier.classify(FeeLine(line_id="1", visit_id="v", item_code="HOSP-1", charge_type="05",
                                           amount=Decimal(1)))
    unknown = classifier.classify(FeeLine(line_id="2", visit_id="v", item_code="HOSP-2", amount=Decimal(1)))
    assert (declared.kind, declared.category, declared.category_key) == ("declared", "治疗费", "treatment")
    assert (unknown.kind, unknown.category) == ("unclassified", "其他费")


def test_categories_add_lines_up_to_the_cent(classifier):
    lines = [FeeLine(line_id=str(i), visit_id="v", item_code=code, amount=Decimal(amount)) for i, (code, amount) in
             enumerate([("002201000010000", "80.10"), ("002201000020000", "19.95"), ("XC09AA", "3.33")])]
    assert classifier.categories(lines) == {"examination": Decimal("100.05"), "western_drugs": Decimal("3.33")}
