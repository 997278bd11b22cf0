"""Version upgrade (regroup-compare): flows count every case once, money reconciles to the cent under both schemes.

The old side is checked against labels casemix did not make: grouped under the regional table set
``chs_drg_11``, the 24 recorded ``drg_remark`` groups of ``cases_30.csv`` are the old DRGs.
"""

import csv
from decimal import Decimal

from conftest import DATA, two_hospital_batch
from typer.testing import CliRunner

from casemix.cli.main import app
from casemix.grouping import Grouper
from casemix.policy import load_policy
from casemix.records.io import read_cases
from casemix.upgrade import compare_versions


def test_upgrade_flows_count_each_case_once_and_payments_add_up_to_the_pool_under_both(tmp_path):
    cases, _ = read_cases(two_hospital_batch(tmp_path))
    comparison = compare_versions(cases, Grouper.load("chs_drg_11", DATA), Grouper.load("chs-drg-2.0", DATA),
                                  load_policy())
    assert sum(comparison.flows.values()) == len(cases) == 30
    assert comparison.pool == sum((c.total_cost for c in cases), Decimal(0))
    assert sum(h.payment_before for h in comparison.hospitals) == comparison.pool
    assert sum(h.payment_after for h in comparison.hospitals) == comparison.pool
    assert {h.hospital_id for h in comparison.hospitals} == {"H001", "H002"}
    assert sum(h.cases for h in comparison.hospitals) == 30
    assert all(m.after.reason for m in comparison.newly_ungroupable)


def test_the_old_side_is_the_insurers_group_for_every_recorded_case(tmp_path):
    with (DATA / "samples" / "cases_30.csv").open(encoding="utf-8-sig", newline="") as f:
        remark = {r["Index"]: r["drg_remark"] for r in csv.DictReader(f) if r["drg_remark"]}
    cases, _ = read_cases(two_hospital_batch(tmp_path))
    comparison = compare_versions(cases, Grouper.load("chs_drg_11", DATA), Grouper.load("chs-drg-2.0", DATA),
                                  load_policy())
    old = {m.case.id: m.before.drg for m in comparison.moves}
    assert len(remark) == 24 and all(old[k] == v for k, v in remark.items())


def test_regroup_compare_command_writes_flow_hospital_ungroupable_and_case_tables(tmp_path):
    source = two_hospital_batch(tmp_path)
    out = tmp_path / "flow.csv"
    run = CliRunner().invoke(app, ["regroup-compare", str(source), "--from", "chs-drg-1.1", "--to", "chs-drg-2.0",
                                   "--data", str(DATA), "-o", str(out)])
    assert run.exit_code == 0, run.output
    with out.open(encoding="utf-8-sig", newline="") as f:
        flows = list(csv.DictReader(f))
    assert sum(int(r["cases"]) for r in flows) == 30
    with (tmp_path / "flow-hospitals.csv").open(encoding="utf-8-sig", newline="") as f:
        hospitals = list(csv.DictReader(f))
    assert sum(Decimal(h["payment_from"]) for h in hospitals) == sum(Decimal(h["payment_to"]) for h in hospitals)
    assert (tmp_path / "flow-ungroupable.csv").exists() and (tmp_path / "flow-cases.csv").exists()
