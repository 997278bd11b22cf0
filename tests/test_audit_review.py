"""The review loop: verdicts on stored flags are kept (on DuckDB and PostgreSQL), bad verdicts and
unknown flags are refused by name, and each rule's confirmed precision is reported by month."""

from datetime import date

import pytest
from conftest import DATA
from typer.testing import CliRunner

from casemix.audit.review import rule_precision
from casemix.cli.main import app
from casemix.errors import ReviewError
from casemix.service.store import Store

runner = CliRunner()
FLAGS = [("H1", "split_admission", "a b", 0.8, "readmitted 3 days later"),
         ("H1", "split_admission", "c d", 0.6, "readmitted 9 days later"),
         ("H2", "duplicate_claim", "e f", 1.0, "two claims"),
         ("H9", "severity_share", "", 0.7, "32% stays with MCC/CC")]


@pytest.fixture(params=["duckdb", "postgres"])
def store(request, tmp_path):
    target = tmp_path / "casemix.duckdb" if request.param == "duckdb" else request.getfixturevalue("postgres")()
    opened = Store(target)
    opened.replace_flags(FLAGS)
    yield opened
    opened.close()


def test_verdicts_are_kept_and_give_each_rules_confirmed_precision_by_month(store):
    store.record_review("split_admission", "a b", "confirmed", "王审核", date(2025, 3, 4))
    store.record_review("split_admission", "c d", "dismissed", "王审核", date(2025, 3, 9), "planned staged surgery")
    store.record_review("duplicate_claim", "e f", "confirmed", "李审核", date(2025, 4, 2))
    store.record_review("severity_share", "", "dismissed", "李审核", date(2025, 4, 3), hospital_id="H9")
    report = {(r.rule, r.period): (r.confirmed, r.dismissed, r.precision) for r in rule_precision(store.reviews())}
    assert report == {("split_admission", "2025-03"): (1, 1, 0.5), ("split_admission", "all"): (1, 1, 0.5),
                      ("duplicate_claim", "2025-04"): (1, 0, 1.0), ("duplicate_claim", "all"): (1, 0, 1.0),
                      ("severity_share", "2025-04"): (0, 1, 0.0), ("severity_share", "all"): (0, 1, 0.0)}
    assert store.reviews()[1]["note"] == "planned staged surgery"


def test_an_unknown_verdict_or_a_flag_not_stored_is_refused_by_name(store):
    with pytest.raises(ReviewError, match="verdict 'maybe'"):
        store.record_review("split_admission", "a b", "maybe", "王审核", date(2025, 3, 4))
    with pytest.raises(ReviewError, match="no stored audit flag split_admission for 'x y'"):
        store.record_review("split_admission", "x y", "confirmed", "王审核", date(2025, 3, 4))
    assert store.reviews() == []


def test_the_command_line_audits_into_the_store_then_reviews_and_reports(tmp_path):
    city, db = tmp_path / "city.csv", str(tmp_path / "casemix.duckdb")
    assert runner.invoke(app, ["city", "-o", str(city), "--hospitals", "6", "--cases", "2000",
                               "--data", str(DATA)]).exit_code == 0
    audited = runner.invoke(app, ["audit", str(city), "-o", str(tmp_path / "flags.csv"), "--db", db,
                                  "--data", str(DATA)])
    assert audited.exit_code == 0, audited.output
    store = Store(db)
    first = next(f for f in store.flags() if f["case_ids"])
    store.close()
    reviewed = runner.invoke(app, ["audit-review", first["rule"], first["case_ids"], "--verdict", "confirmed",
                                   "--reviewer", "王审核", "--db", db, "--on", "2025-05-06"])
    assert reviewed.exit_code == 0, reviewed.output
    report = runner.invoke(app, ["audit-report", "--db", db])
    assert report.exit_code == 0 and f"{first['rule']}" in report.output and "2025-05" in report.output
    assert "100.0%" in report.output
    refused = runner.invoke(app, ["audit-review", first["rule"], "nope", "--verdict", "confirmed",
                                  "--reviewer", "x", "--db", db])
    assert refused.exit_code != 0 and "no stored audit flag" in refused.output and "Traceback" not in refused.output
