"""The rule-file parser on hand-written section headers, one per entry pattern in the tables."""

import pytest

from casemix.schemes.rules import Role, RuleParseError, parse_entry_rule


def shape(rule):
    return [[[(cl.name, cl.role, sorted(cl.codes)) for cl in term] for term in alt] for alt in rule.alternatives]


def test_principal_diagnosis_list():
    rule = parse_entry_rule("BR2", ["包含以下主要诊断："], {1: ["I63.900"]})
    assert shape(rule) == [[[("包含以下主要诊断", Role.PRINCIPAL_DX, ["I63.900"])]]]


def test_principal_and_main_procedure_are_both_required():
    rule = parse_entry_rule("X", ["包含以下主要诊断：", "包含以下主要手术或操作："], {1: ["A"], 2: ["p"]})
    assert [[t[0].role for t in alt] for alt in rule.alternatives] == [[Role.PRINCIPAL_DX, Role.MAIN_PROC]]


def test_simultaneous_procedures_take_any_position():
    rule = parse_entry_rule("BB1", ["同时包含以下手术或操作：", "和"], {1: ["a"], 2: ["b"]})
    assert [[t[0].role for t in alt] for alt in rule.alternatives] == [[Role.ANY_PROC, Role.ANY_PROC]]


def test_formula_with_three_alternatives_names_its_lists():
    headers = ["入组条件 1：主要诊断+主要手术或操作 1或入组条件 2：主要手术或操作 2"
               "或入组条件 3：手术或操作 3+手术或操作 4",
               "主要诊断：", "主要手术或操作 1：", "主要手术或操作 2：", "手术或操作 3：", "手术或操作 4："]
    rule = parse_entry_rule("IB1", headers, {2: ["d"], 3: ["m1"], 4: ["m2"], 5: ["p3"], 6: ["p4"]})
    assert shape(rule) == [
        [[("主要诊断", Role.PRINCIPAL_DX, ["d"])], [("主要手术或操作 1", Role.MAIN_PROC, ["m1"])]],
        [[("主要手术或操作 2", Role.MAIN_PROC, ["m2"])]],
        [[("手术或操作 3", Role.ANY_PROC, ["p3"])], [("手术或操作 4", Role.ANY_PROC, ["p4"])]],
    ]


def test_parenthesised_or_term_keeps_both_lists():
    headers = ["入组条件：（其他诊断或手术或操作 1）+手术或操作 2", "其他诊断：", "手术或操作 1：", "手术或操作 2："]
    rule = parse_entry_rule("AH2", headers, {2: ["Z93.000"], 3: ["31.7400"], 4: ["96.7201"]})
    assert shape(rule) == [[
        [("其他诊断", Role.OTHER_DX, ["Z93.000"]), ("手术或操作 1", Role.ANY_PROC, ["31.7400"])],
        [("手术或操作 2", Role.ANY_PROC, ["96.7201"])],
    ]]


def test_code_line_taken_for_a_header_joins_the_list_above():
    headers = ["包含以下主要手术或操作：", "86.700x0013 游离皮瓣移植术", "86.700x0014 皮瓣转移术"]
    rule = parse_entry_rule("DC1", headers, {1: ["26.4900x007"], 2: ["86.7400x034"]})
    assert shape(rule) == [[[("包含以下主要手术或操作", Role.MAIN_PROC,
                              ["26.4900x007", "86.700x0013", "86.700x0014", "86.7400x034"])]]]


def test_or_header_opens_a_second_alternative():
    rule = parse_entry_rule("WR2", ["包含以下主要诊断：", "或包含以下其他诊断："], {1: ["T20"], 2: ["T31"]})
    assert [[t[0].role for t in alt] for alt in rule.alternatives] == [[Role.PRINCIPAL_DX], [Role.OTHER_DX]]


def test_text_only_rules_become_flags():
    assert parse_entry_rule("XJ1", ["包含全部手术或操作"], {}).needs_or_procedure
    assert parse_entry_rule("ZZ1", ["符合 MDCZ 诊断表，且无手术或操作"], {}).needs_no_or_procedure
    assert parse_entry_rule("WJ1", ["包含 WB1、WB2、WB3 的所有主要手术或操作"], {}).borrows_main_procedures_of == (
        "WB1", "WB2", "WB3")


def test_unknown_header_is_an_error_not_a_silent_pass():
    with pytest.raises(RuleParseError):
        parse_entry_rule("Q", ["以下内容："], {1: ["x"]})
