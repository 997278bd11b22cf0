"""QC: every catalogue rule fires on its own hand-written example, and a clean record raises nothing."""

import csv
from decimal import Decimal

import pytest
from conftest import DATA

from casemix.qc import CATEGORIES, QcEngine, load_rules, rules_version, summarise
from casemix.records import Case
from casemix.records.case import to_case

CLEAN = {"id": "clean", "sex": 1, "age": 45, "los_days": 5, "discharge_mode": "1", "department": "神经内科",
         "principal_dx": "I63.900", "secondary_dx": ("I10.x00x002",), "procedures": (), "total_cost": "8000.00",
         "self_pay": "2000.00", "hospital_id": "H001", "hospital_level": "二级", "patient_id": "P1",
         "admission_date": "2025-03-01", "discharge_date": "2025-03-06"}
RULES = load_rules()


@pytest.fixture(scope="module")
def qc(g20):
    return QcEngine(RULES, g20)


def with_example(example: dict) -> Case:
    fields = dict(CLEAN)
    for key, value in example.items():
        fields[key] = None if value == "" else tuple(value) if isinstance(value, list) else value
    if "fees" not in example:
        fields["fees"] = {"bed": "1000.00", "western_drugs": "7000.00"}      # adds up to the clean total
    case = to_case(fields)
    assert isinstance(case, Case), case
    return case


def test_the_catalogue_has_at_least_100_rules_in_the_national_categories():
    assert rules_version() == "2026.1"
    assert len(RULES) >= 100
    assert {r.category for r in RULES} == set(CATEGORIES)
    assert all(r.message_zh and r.message_en and r.example for r in RULES)


def test_a_clean_record_raises_nothing(qc):
    assert qc.check(with_example({})) == []


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_each_rule_fires_on_its_example(qc, rule):
    findings = qc.check(with_example(rule.example))
    assert rule.id in {f.rule.id for f in findings}


def test_a_finding_on_a_secondary_code_states_its_grouping_impact(g20):
    weights = {"BR21": Decimal("120.00"), "BR25": Decimal("70.00")}
    engine = QcEngine(RULES, g20, base_points=weights, point_value=Decimal("80"))
    # a man coded with a pregnancy complication that also counts as the MCC
    case = with_example({"secondary_dx": ["J96.900x001", "O99.000"]})
    finding = next(f for f in engine.check(case) if f.rule.id == "F08")
    assert finding.field == "secondary_dx[1]" and finding.code == "O99.000"
    impact = finding.impact
    assert impact.fix == "drop secondary O99.000" and impact.drg_now == g20.group(case).drg
    respiratory = engine.check(with_example({"secondary_dx": ["J96.900x001", "J96.900x001"]}))
    duplicate = next(f for f in respiratory if f.rule.id == "K20")
    assert (duplicate.impact.drg_now, duplicate.impact.drg_fixed) == ("BR21", "BR21")
    assert duplicate.impact.payment_change == Decimal("0.00")


def test_qy_finding_suggests_the_or_procedure_as_main(qc):
    finding = next(f for f in qc.check(with_example({"principal_dx": "K64.000", "procedures": ["99.2503", "49.0101"]}))
                   if f.rule.id == "P01")
    assert finding.impact.fix == "list 49.0101 as the main procedure"
    assert (finding.impact.drg_now, finding.impact.drg_fixed) == ("GQY", "GG19")


def test_qc_over_the_real_samples_finds_real_errors(qc):
    with (DATA / "samples" / "frontpage_763_with_cost.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    from casemix.records import RowReader
    reader = RowReader(rows[0])
    cases = [reader.read(r, i) for i, r in enumerate(rows[1:], 1)]
    summary = summarise((c, qc.check(c, impact=False)) for c in cases if isinstance(c, Case))
    assert summary["cases"]["checked"] == 763
    rules = {key.split()[0] for key in summary["rule"]}
    assert {"V09", "P02", "K20"} <= rules            # non-standard codes, 0000 cases, duplicated codes
    assert summary["department"]


def test_a_rule_of_an_unknown_kind_is_refused(g20):
    from casemix.qc import Rule, RuleError

    odd = Rule("X1", "validity", "E", "telepathy", "未知", "unknown", (), {}, {})
    with pytest.raises(RuleError, match="telepathy"):
        QcEngine([odd], g20)
