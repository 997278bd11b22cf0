"""No input crashes the grouper or loses a row (hypothesis)."""

from conftest import table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casemix.grouping import group_rows
from casemix.records import RowReader

HEADERS = ["病案号", "性别", "年龄", "新生儿年龄天", "新生儿出生体重", "住院天数", "诊断编码", "手术操作编码", "总费用"]
NEWBORN_DX = ["P07.300x001", "P07.200", "P22.000", "P59.900"]   # birth-weight and age rules apply
REAL_DX = sorted({r["code"] for r in table("chs-drg-2.0", "mdc_principal_dx.csv")})[::40] + NEWBORN_DX
REAL_PROC = sorted({r["code"] for r in table("chs-drg-2.0", "adrg_codes.csv") if r["code_type"] == "procedure"})[::40]
STATUSES = {"grouped", "qy", "ungroupable", "rejected"}

junk = st.one_of(st.just(""), st.text(max_size=12), st.sampled_from(["-1", "300", "1e9", "NaN", "男", "女", "3", " "]))
dx = st.one_of(st.sampled_from(REAL_DX), st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.x+*", max_size=14))
proc = st.one_of(st.sampled_from(REAL_PROC), st.text(alphabet="0123456789.x", max_size=12))
codes = lambda item, most: st.lists(item, max_size=most).map(",".join)  # noqa: E731

row = st.tuples(
    st.text(alphabet="ABC0123456789", min_size=1, max_size=8),
    st.one_of(st.sampled_from(["1", "2", "0", "9"]), junk),
    st.one_of(st.integers(-5, 310).map(str), junk),
    st.one_of(st.integers(-5, 400).map(str), junk),
    st.one_of(st.integers(-10, 25000).map(str), junk),
    st.one_of(st.integers(-3, 400).map(str), junk),
    codes(dx, 20),
    st.one_of(codes(proc, 8), codes(st.sampled_from(REAL_PROC), 200)),
    st.one_of(st.decimals(min_value=-10, max_value=10**7, places=2).map(str), junk),
).map(list)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=20))
def test_every_row_comes_out_once_with_a_status(g20, rows):
    results = list(group_rows(g20, RowReader(HEADERS), rows))
    assert len(results) == len(rows)
    assert [r.case_id for r in results] == [r[0] for r in rows]
    for result in results:
        assert result.status in STATUSES
        assert result.status == "grouped" or result.reason
        if result.status == "grouped":
            assert result.drg in g20.scheme.drg_names


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(age=st.sampled_from(["-1", "300", "abc"]))
def test_impossible_ages_are_rejected_naming_the_field(g20, age):
    result = next(group_rows(g20, RowReader(HEADERS), [["r1", "1", age, "", "", "3", "I63.900", "", "10"]]))
    assert result.status == "rejected"
    assert "record r1 field age" in result.reason


def test_two_hundred_procedures_group(g20):
    procedures = ",".join(REAL_PROC[:200])
    result = next(group_rows(g20, RowReader(HEADERS), [["r1", "1", "50", "", "", "3", "I63.900", procedures, "1"]]))
    assert result.status in STATUSES - {"rejected"}


def test_empty_row_is_rejected_not_lost(g20):
    result = next(group_rows(g20, RowReader(HEADERS), [[""] * len(HEADERS)]))
    assert result.status == "rejected" and "principal_dx" in result.reason


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=20))
def test_memoised_results_equal_freshly_explained_ones(g20, rows):
    """The memo key must hold everything grouping reads: a hit may never differ from a fresh grouping."""
    reader = RowReader(HEADERS)
    for number, values in enumerate(rows, 1):
        case = reader.read(values, number)
        quick, full = g20.group(case, explain=False), g20.group(case)
        fields = ("case_id", "status", "drg", "mdc", "adrg", "reason", "severity", "principal_dx", "notes")
        assert [getattr(quick, f) for f in fields] == [getattr(full, f) for f in fields]
