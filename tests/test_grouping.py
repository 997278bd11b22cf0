"""Hand-made cases, one per entry pattern and MDC rule, whose answers were worked out from the tables.

Codes are taken from the real CHS-DRG tables (read here with the csv module, not through casemix)
so a test states which list a code comes from; the expected group follows from that list and the
scheme's check order.
"""

from dataclasses import replace

import pytest
from conftest import adrg_codes, mdc_codes, table

from casemix.grouping import Grouper
from casemix.records import Case


def case(**fields) -> Case:
    fields.setdefault("id", "t1")
    fields.setdefault("sex", 1)
    fields.setdefault("age", 50)
    return Case(**fields)


def with_policy(grouper: Grouper, **changes) -> Grouper:
    return Grouper(grouper.scheme, grouper.codebook, replace(grouper.policy, **changes))


def exclusion_table(code: str, kind: str, scheme: str = "chs-drg-2.0") -> str:
    return next(r["exclusion_table_id"] for r in table(scheme, f"{kind}.csv") if r["code"] == code)


def excluded_principals(table_id: str, scheme: str = "chs-drg-2.0") -> set[str]:
    return {r["code"] for r in table(scheme, "cc_exclusion_principal_dx.csv") if r["exclusion_table_id"] == table_id}


# ---- ADRG entry patterns --------------------------------------------------------------------

def test_principal_diagnosis_list_enters_medical_adrg(g20):
    assert "I63.900" in adrg_codes("BR2", "包含以下主要诊断：")
    result = g20.group(case(principal_dx="I63.900"))
    assert (result.mdc, result.adrg, result.drg, result.status) == ("MDCB", "BR2", "BR25", "grouped")


def test_main_procedure_list_needs_the_procedure_first(g20):
    assert "49.0101" in adrg_codes("GG1", "包含以下主要手术或操作：") and "K64.000" in mdc_codes("MDCG")
    assert g20.group(case(principal_dx="K64.000", procedures=("49.0101",))).drg == "GG19"
    second = g20.group(case(principal_dx="K64.000", procedures=("99.2503", "49.0101")))
    assert second.drg == "GQY" and "would enter GG1" in second.reason
    assert with_policy(g20, main_procedure="any").group(
        case(principal_dx="K64.000", procedures=("99.2503", "49.0101"))).drg == "GG19"


def test_simultaneous_procedures_need_one_from_each_list(g20):
    first, second = adrg_codes("BB1", "同时包含以下手术或操作："), adrg_codes("BB1", "和")
    both = g20.group(case(principal_dx="I63.900", procedures=(second[0], first[0])))
    assert both.adrg == "BB1"
    assert g20.group(case(principal_dx="I63.900", procedures=(first[0],))).adrg != "BB1"


def test_formula_alternative_of_two_any_position_procedures(g20):
    p3, p4 = adrg_codes("IB1", "手术或操作 3："), adrg_codes("IB1", "手术或操作 4：")
    principal = next(c for c in mdc_codes("MDCI") if c not in adrg_codes("IB1", "主要诊断："))
    main = adrg_codes("IC1", "包含以下主要手术或操作：")[0]
    assert main not in adrg_codes("IB1", "主要手术或操作 2：")
    result = g20.group(case(principal_dx=principal, procedures=(main, p3[0], p4[0])))
    assert result.adrg == "IB1"
    assert "手术或操作 4" in result.trace[2].detail


def test_other_diagnosis_list_enters_vaginal_delivery(g20):
    live_birth = adrg_codes("OR1", "包含以下其他诊断：")[0]
    principal = next(c for c in mdc_codes("MDCO") if c.startswith("O80"))
    result = g20.group(case(sex=2, age=28, principal_dx=principal, secondary_dx=(live_birth,)))
    assert result.adrg == "OR1"


def test_all_procedures_rule_takes_any_or_procedure(g20):
    principal = "Z51.800x092" if "Z51.800x092" in mdc_codes("MDCX") else mdc_codes("MDCX")[0]
    or_procedure = adrg_codes("GG1", "包含以下主要手术或操作：")[1]
    result = g20.group(case(principal_dx=principal, procedures=(or_procedure,)))
    assert (result.mdc, result.adrg) == ("MDCX", "XJ1")


# ---- MDC rules --------------------------------------------------------------------------------

def test_pre_mdc_transplant_by_main_procedure(g20):
    assert adrg_codes("AA1", "包含以下主要手术或操作：") == ["33.6x00"]
    result = g20.group(case(principal_dx="J84.100x007", procedures=("33.6x00",)))
    assert (result.mdc, result.adrg, result.drg) == ("MDCA", "AA1", "AA19")


def test_pre_mdc_ventilation_needs_tracheostomy_status_or_airway_procedure(g20):
    with_status = g20.group(case(principal_dx="J18.900", secondary_dx=("Z93.000",), procedures=("96.7201",)))
    with_intubation = g20.group(case(principal_dx="J18.900", procedures=("96.7201", "96.0400")))
    alone = g20.group(case(principal_dx="J18.900", procedures=("96.7201",)))
    assert with_status.adrg == with_intubation.adrg == "AH2"
    assert alone.mdc == "MDCE"


@pytest.mark.parametrize("weight, adrg", [(1200, "PS1"), (1700, "PS2"), (2200, "PS3"), (2600, "PS4")])
def test_newborn_birth_weight_bands(g20, weight, adrg):
    principal = "P07.300x001"
    assert principal in adrg_codes(adrg, "包含以下主要诊断或其他诊断：") and principal in mdc_codes("MDCP")
    result = g20.group(case(principal_dx=principal, age=0, age_days=5, birth_weight_g=weight))
    assert (result.mdc, result.adrg) == ("MDCP", adrg)


def test_newborn_principal_in_an_adult_is_ungroupable_with_reason(g20):
    result = g20.group(case(principal_dx="P07.300x001", age=30))
    assert result.drg == "0000" and "MDCP" in result.reason


def test_hiv_as_secondary_diagnosis_takes_mdcy(g20):
    hiv = mdc_codes("MDCY")[0]
    result = g20.group(case(principal_dx="J18.900", secondary_dx=(hiv,)))
    assert result.mdc == "MDCY"


def test_multiple_trauma_needs_two_body_sites(g20):
    sites = {}
    for r in table("chs-drg-2.0", "mdc_principal_dx.csv"):
        if r["mdc"] == "MDCZ":
            sites.setdefault(r["context_header"], []).append(r["code"])
    head = next(c for c in sites["头颈部创伤"] if c.startswith("S06"))
    chest = sites["胸部创伤"][0]
    two_sites = g20.group(case(principal_dx=head, secondary_dx=(chest,)))
    assert (two_sites.mdc, two_sites.adrg) == ("MDCZ", "ZZ1")
    one_site = g20.group(case(principal_dx=head))
    assert one_site.mdc != "MDCZ"


def test_sex_checked_mdc(g20):
    principal = next(c for c in mdc_codes("MDCM") if c not in mdc_codes("MDCN"))
    assert g20.group(case(sex=1, principal_dx=principal)).mdc == "MDCM"
    female = g20.group(case(sex=2, principal_dx=principal))
    assert female.drg == "0000" and "MDCM needs sex 1" in female.reason


def test_invalid_principal_diagnosis_is_ungroupable(g20):
    invalid = table("chs-drg-2.0", "zd_invalid.csv")[0]["code"]
    result = g20.group(case(principal_dx=invalid))
    assert result.drg == "0000" and "ZD_INVALID" in result.reason


# ---- QY ---------------------------------------------------------------------------------------

def test_unrelated_or_procedure_goes_to_qy_or_as_policy_says(g20):
    appendectomy = next(c for c in adrg_codes("GE1", "包含以下主要手术或操作：", "chs-drg-2.0") if c.startswith("47.0"))
    pneumonia = case(principal_dx="J18.900", procedures=(appendectomy,))
    assert g20.group(pneumonia).drg == "EQY"
    assert with_policy(g20, unrelated_or_procedure="medical").group(pneumonia).adrg == "ES3"
    assert with_policy(g20, unrelated_or_procedure="ungroupable").group(pneumonia).drg == "0000"


# ---- MCC / CC split ----------------------------------------------------------------------------

def test_mcc_counts_unless_its_exclusion_table_holds_the_principal(g20):
    mcc = "J96.900x001"
    assert "I63.900" not in excluded_principals(exclusion_table(mcc, "mcc"))
    counted = g20.group(case(principal_dx="I63.900", secondary_dx=(mcc,)))
    assert counted.drg == "BR21" and counted.severity == "MCC"
    excluded_pdx = next(c for c in excluded_principals(exclusion_table(mcc, "mcc"))
                        if c in adrg_codes("ES3", "包含以下主要诊断："))
    excluded = g20.group(case(principal_dx=excluded_pdx, secondary_dx=(mcc,)))
    assert excluded.drg == "ES35"
    assert any(step.outcome == "MCC excluded" and step.code == mcc for step in excluded.trace)


def test_cc_gives_suffix_3(g20):
    cc = next(r["code"] for r in table("chs-drg-2.0", "cc.csv")
              if "I63.900" not in excluded_principals(r["exclusion_table_id"]))
    assert g20.group(case(principal_dx="I63.900", secondary_dx=(cc,))).drg == "BR23"


def test_cc_only_case_in_a_1_5_split_follows_policy(g20):
    head = next(c for c in mdc_codes("MDCZ") if c.startswith("S06"))
    chest = next(r["code"] for r in table("chs-drg-2.0", "mdc_principal_dx.csv")
                 if r["context_header"] == "胸部创伤")
    cc = next(r["code"] for r in table("chs-drg-2.0", "cc.csv")
              if head not in excluded_principals(r["exclusion_table_id"]) and r["code"][0] in "EI")
    trauma = case(principal_dx=head, secondary_dx=(chest, cc))
    default = g20.group(trauma)
    assert default.adrg == "ZZ1" and sorted(g20.scheme.adrgs["ZZ1"].suffixes) == ["1", "5"]
    if default.severity == "CC":
        assert default.drg == "ZZ15"
        assert with_policy(g20, cc_counts_for_suffix_1=True).group(trauma).drg == "ZZ11"


# ---- codes ------------------------------------------------------------------------------------

def test_unknown_secondary_code_is_reported_not_dropped_silently(g20):
    result = g20.group(case(principal_dx="I63.900", secondary_dx=("ZZZ.999",)))
    assert result.drg == "BR25"
    assert any("secondary_dx[0]" in note and "ZZZ.999" in note for note in result.notes)


def test_clinical_code_is_crosswalked(g20):
    rows = table("icd", "icd10_gl2.0_to_yb2.0_Sheet1.csv")
    yibao = g20.codebook.names["diagnosis"]
    clinical, target = next((r["国临版编码"], r["医保版2.0编码"]) for r in rows
                            if r["国临版编码"] not in yibao and r["医保版2.0编码"] in g20.scheme.dx_mdcs)
    result = g20.group(case(principal_dx=clinical))
    assert result.principal_dx == target
    assert any("crosswalked" in note for note in result.notes)


def test_excel_mangled_procedure_code_is_normalised(g20):
    code, note = g20.codebook.resolve("procedure", "4.8101", "procedures[0]")
    assert code == "04.8101" and note.action == "normalised"


def test_explanation_names_table_and_code_for_each_step(g20):
    result = g20.group(case(principal_dx="I63.900", secondary_dx=("J96.900x001",)))
    stages = [step.stage for step in result.trace]
    assert stages == ["codes", "mdc", "adrg", "severity", "drg"]
    assert all(step.table for step in result.trace)
    assert result.path == "MDCB → BR2 → BR21"
    assert "BR2" in result.explain() and "mcc.csv" in result.explain()


def test_batch_memo_gives_the_same_group_as_explained_grouping(g20):
    cases = [case(id=f"c{i}", principal_dx="I63.900", secondary_dx=("J96.900x001",) * (i % 2)) for i in range(6)]
    quick = [g20.group(c, explain=False) for c in cases]
    full = [g20.group(c) for c in cases]
    assert [(r.case_id, r.drg) for r in quick] == [(r.case_id, r.drg) for r in full]
    assert [r.case_id for r in quick] == [f"c{i}" for i in range(6)]


@pytest.mark.parametrize("given, expected", [("K35.8", "K35.800"), ("I10", "I10.x00"), ("i10.X00", "I10.x00")])
def test_short_or_mis_cased_diagnosis_codes_are_normalised(g20, given, expected):
    code, note = g20.codebook.resolve("diagnosis", given, "principal_dx")
    assert code == expected and note.action == "normalised"
