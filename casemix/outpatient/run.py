"""The outpatient use cases, each written once for the CLI and the demo to call.

- :func:`group_visit_files`: read visit headers and fee lines, group, write ``grouped-visits.csv`` (one row
  per visit header: APGs, points, status, reason; rejected rows included with their reason);
- :func:`outpatient_year`: group, enrol, settle the outpatient pots and capitation, and build the unified
  statements (with an inpatient :class:`~casemix.settlement.Settlement` when one is given);
- :func:`group_year_parts` / :func:`settle_year_parts`: a year too large for memory (a city's 10M visits),
  grouped part by part from Parquet and settled from the columns settlement reads;
- :func:`write_synthetic_year` / :func:`read_visit_frames`: the synthetic year as files and back;
- :func:`outpatient_demo`: what ``casemix demo`` runs: a synthetic outpatient year for the demo city,
  ``grouped-visits.csv`` and the unified statements in one folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from casemix.grouping import Grouper
from casemix.outpatient.capitation import CapitationSettlement, enrol, settle_capitation
from casemix.outpatient.grouping import LINE_COLUMNS, ApgGrouper, GroupedVisits
from casemix.outpatient.scheme import ApgScheme, load_scheme
from casemix.outpatient.settlement import OutpatientSettlement, settle_outpatient_year
from casemix.outpatient.statement import UnifiedStatements, unified_statements
from casemix.outpatient.synthetic import OutpatientYear, hospitals_of, synthetic_outpatient_year
from casemix.outpatient.visits import read_joined, read_visits, visit_frames
from casemix.pipelines import group_cases, settle
from casemix.policy import Policy
from casemix.records.case import Case, Rejection
from casemix.settlement import Settlement, cents

GROUPED_FILE_COLUMNS = [
    "visit_id",
    "hospital_id",
    "main_apg",
    "apgs",
    "points",
    "status",
    "reason",
    "visit_apg",
    "apg_points",
    "pass_through_points",
    "kind",
    "expected_cost",
    "total_cost",
]
# the file's column types (total_cost written as the text of its Decimal)
GROUPED_FILE_SCHEMA = {name: pl.Float64 if name in ("points", "apg_points", "pass_through_points", "expected_cost")
                       else pl.String for name in GROUPED_FILE_COLUMNS}
# what enrolment, the pots, capitation and the statements read of a grouped visit
SETTLEMENT_COLUMNS = ["visit_id", "patient_id", "hospital_id", "hospital_level", "visit_date", "med_type", "insurance",
                      "age", "sex", "principal_dx", "diagnoses", "status", "kind", "points", "total_cost", "fund_paid",
                      "self_pay"]


@dataclass(frozen=True)
class GroupedFile:
    """What grouping a file gave: the grouped visits, the rejected rows, and the counts in and out."""

    grouped: GroupedVisits
    rejections: list[Rejection]
    rows_in: int
    rows_out: int


def read_visit_frames(
    visits_path: str | Path, lines_path: str | Path
) -> tuple[pl.DataFrame, pl.DataFrame, list[Rejection]]:
    """Visit and line frames of two files, and every row rejected (naming file, record and field)."""
    visits, rejections = read_visits(visits_path, lines_path)
    heads, lines = visit_frames(visits)
    return heads, lines, rejections


def group_visit_files(
    visits_path: str | Path,
    lines_path: str | Path,
    scheme: ApgScheme,
    policy: Policy,
    data_dir: str | Path | None,
    output: str | Path | None = None,
) -> GroupedFile:
    """Group the visits of two files; with ``output``, write one row per visit header (rejected ones too; a
    refused fee-line row is a rejection, not a visit row)."""
    joined = read_joined(visits_path, lines_path)
    heads, lines = visit_frames(visit for _, visit in joined.visits)
    grouped = ApgGrouper(scheme, policy.outpatient, data_dir).group(heads, lines)
    rejections, header_rejections = [rejection for _, rejection in joined.rejections], joined.refused_headers
    if output is not None:
        write_grouped_visits(output, grouped, header_rejections)
    return GroupedFile(
        grouped, rejections, heads.height + len(header_rejections), grouped.visits.height + len(header_rejections)
    )


def write_grouped_visits(path: str | Path, grouped: GroupedVisits, rejections: list[Rejection] = ()) -> Path:
    """``grouped-visits.csv``: visit id, APGs, points, status, reason (and the detail), rejected rows last."""
    return write_grouped_rows(path, [grouped.visits], rejections)


def write_grouped_rows(path: str | Path, chunks: Iterable[pl.DataFrame], rejections: list[Rejection] = ()) -> Path:
    """``grouped-visits.csv`` from grouped visit frames in visit order, written one chunk at a time (each with at
    least :data:`GROUPED_FILE_COLUMNS`), then the rejected rows: the same bytes however the visits are chunked."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    template = pl.DataFrame(schema=GROUPED_FILE_SCHEMA)
    with path.open("wb") as file:
        template.write_csv(file)
        for chunk in chunks:
            chunk.select(GROUPED_FILE_COLUMNS).with_columns(pl.col("total_cost").cast(pl.String)).write_csv(
                file, include_header=False)
        if rejections:
            rejected = pl.DataFrame({"visit_id": [r.record_id for r in rejections],
                                     "status": ["rejected"] * len(rejections),
                                     "reason": [f"row {r.row_number} field {r.field}: {r.reason}" for r in rejections]})
            pl.concat([template, rejected], how="diagonal_relaxed").write_csv(file, include_header=False)
    return path


@dataclass(frozen=True)
class OutpatientResult:
    """A settled outpatient year: grouping, enrolment, pots, capitation, and the unified statements."""

    grouped: GroupedVisits
    enrolment: pl.DataFrame
    outpatient: OutpatientSettlement
    capitation: CapitationSettlement
    statements: UnifiedStatements


def outpatient_year(
    visits: pl.DataFrame,
    lines: pl.DataFrame,
    last_year: dict[str, Decimal],
    scheme: ApgScheme,
    policy: Policy,
    data_dir: str | Path | None,
    inpatient: Settlement | None = None,
    contracts: pl.DataFrame | None = None,
) -> OutpatientResult:
    """Group the year's visits, enrol, settle outpatient pots and capitation, and reconcile every hospital's year.

    ``last_year`` is the outpatient fund spending per pot (``310``/``390``, or ``all`` without fund split).
    Raises SettlementError when a budget is missing or a statement does not reconcile.
    """
    grouped = ApgGrouper(scheme, policy.outpatient, data_dir).group(visits, lines)
    return settle_grouped_year(grouped, last_year, policy, inpatient, contracts)


def settle_grouped_year(
    grouped: GroupedVisits,
    last_year: dict[str, Decimal],
    policy: Policy,
    inpatient: Settlement | None = None,
    contracts: pl.DataFrame | None = None,
) -> OutpatientResult:
    """Enrol, settle the outpatient pots and capitation, and build the unified statements of grouped visits
    (:func:`outpatient_year` after grouping; the settlement reads only :data:`SETTLEMENT_COLUMNS`)."""
    scheme = grouped.scheme
    enrolment = enrol(grouped.visits, policy, contracts)
    outpatient = settle_outpatient_year(grouped.visits, last_year, policy, enrolment)
    capitation = settle_capitation(grouped.visits, enrolment, outpatient, policy)
    banner = f"{scheme.title} ({scheme.status})" if scheme.status == "starter" else scheme.title
    return OutpatientResult(
        grouped, enrolment, outpatient, capitation, unified_statements(inpatient, outpatient, capitation, banner)
    )


def group_year_parts(
    parts: list[tuple[Path, Path]], scheme: ApgScheme, policy: Policy, data_dir: str | Path | None,
    folder: str | Path,
) -> list[Path]:
    """Group a year stored as Parquet parts (visits, lines), one part in memory at a time: each part's grouped
    visits go to ``grouped-NNN.parquet`` in ``folder`` (one row per visit, as ``grouped-visits.csv``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    grouper = ApgGrouper(scheme, policy.outpatient, data_dir)
    paths = []
    for number, (visits, lines) in enumerate(parts):
        grouped = grouper.group(pl.read_parquet(visits), pl.read_parquet(lines))
        paths.append(folder / f"grouped-{number:03d}.parquet")
        grouped.visits.write_parquet(paths[-1])
    return paths


def settle_year_parts(
    grouped_parts: list[Path], last_year: dict[str, Decimal], scheme: ApgScheme, policy: Policy,
    inpatient: Settlement | None = None,
) -> OutpatientResult:
    """Settle a year grouped part by part (:func:`group_year_parts`), reading only the columns settlement
    needs; the result's grouped visits carry those columns and no line paths (they stay in the parts)."""
    visits = pl.concat([pl.read_parquet(path, columns=SETTLEMENT_COLUMNS) for path in grouped_parts])
    no_lines = pl.DataFrame(schema=dict.fromkeys(LINE_COLUMNS, pl.String))
    return settle_grouped_year(GroupedVisits(visits, no_lines, scheme), last_year, policy, inpatient)


def last_year_from(visits: pl.DataFrame, growth: float, policy: Policy) -> dict[str, Decimal]:
    """A simulation's last year: this year's fund spending per pot ÷ (1 + growth), to the cent."""
    split = policy.outpatient.fund_split
    pots = visits.with_columns(
        pl.when(pl.lit(split) & pl.col("insurance").is_in(["310", "390"]))
        .then(pl.col("insurance"))
        .otherwise(pl.lit("all"))
        .alias("pot")
    )
    spend = pots.group_by("pot").agg(pl.col("fund_paid").sum())
    return {pot: cents(amount / Decimal(repr(1 + growth))) for pot, amount in spend.iter_rows()}


def write_synthetic_year(year: OutpatientYear, folder: str | Path) -> list[Path]:
    """The synthetic year as ``visits.parquet`` (mdtrt_d/setl_d names) and ``lines.parquet`` (fee_list_d names)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    visits = year.visits.rename(
        {
            "visit_id": "mdtrt_id",
            "patient_id": "psn_no",
            "hospital_id": "fixmedins_code",
            "hospital_level": "hosp_lv",
            "visit_date": "begntime",
            "insurance": "insutype",
            "sex": "gend",
            "total_cost": "medfee_sumamt",
            "fund_paid": "fund_pay_sumamt",
            "self_pay": "psn_pay",
            "principal_dx": "maindiag_code",
        }
    )
    lines = year.lines.rename(
        {
            "visit_id": "mdtrt_id",
            "line_id": "bkkp_sn",
            "code": "med_list_codg",
            "quantity": "cnt",
            "amount": "det_item_fee_sumamt",
        }
    ).drop("line_no")
    paths = [folder / "visits.parquet", folder / "lines.parquet", folder / "residents.csv"]
    visits.write_parquet(paths[0])
    lines.write_parquet(paths[1])
    year.residents.write_csv(paths[2])
    return paths


def year_record(result: OutpatientResult) -> dict[str, Any]:
    """The settled outpatient year as plain values for the store and the dashboard: each fund pot (budget,
    growth against last year, point value) and each hospital's unified statement row."""
    headers, rows = result.statements.summary()
    pots = [{"fund": fund, "last_year": str(pot.last_year), "budget": str(pot.budget), "growth": float(pot.growth),
             "apg_pot": str(pot.apg_pot), "point_value": float(pot.settlement.point_value)}
            for fund, pot in sorted(result.outpatient.pots.items())]
    return {"growth_cap": result.outpatient.growth_cap, "pots": pots, "headers": headers, "rows": rows}


def inpatient_settlement(
    cases: list[Case], budget: Decimal, policy: Policy, data_dir: str | Path, scheme: str = "chs-drg-2.0"
) -> Settlement:
    """The inpatient DRG year of ``cases`` under ``budget``, through the settlement use case."""
    grouper = Grouper.load(scheme, data_dir, policy.grouping)
    return settle(group_cases(grouper, cases), budget, policy, grouper)


def write_synthetic_outpatient_year(cases: list[Case], visits: int, year: int, seed: int,
                                    folder: str | Path) -> list[Path]:
    """A synthetic city's outpatient year (its hospitals and patients) written to ``folder``."""
    made = synthetic_outpatient_year(hospitals_of(cases), visits=visits, year=year, seed=seed,
                                     patient_ids=sorted({c.patient_id for c in cases if c.patient_id}))
    return write_synthetic_year(made, folder)


def outpatient_demo(
    folder: str | Path,
    cases: list[Case],
    policy: Policy,
    data_dir: str | Path,
    inpatient_budget: Decimal | None = None,
    visits: int = 60_000,
    seed: int = 2026,
    last_year_growth: float = 0.12,
) -> OutpatientResult:
    """The demo city's outpatient year: ``grouped-visits.csv`` and the unified statements in ``folder``.

    The year is synthetic (the city's hospitals and patients); last year's spending is this year's ÷
    (1 + ``last_year_growth``), so the growth cap binds and the point value falls below par. With
    ``inpatient_budget`` the city's stays are settled too and enter the statements as section A.
    """
    folder = Path(folder)
    inpatient = inpatient_settlement(cases, inpatient_budget, policy, data_dir) if inpatient_budget else None
    year = synthetic_outpatient_year(
        hospitals_of(cases),
        visits=visits,
        seed=seed,
        year=min((c.admission_date.year for c in cases if c.admission_date), default=2025),
        patient_ids=sorted({c.patient_id for c in cases if c.patient_id}),
    )
    result = outpatient_year(
        year.visits,
        year.lines,
        last_year_from(year.visits, last_year_growth, policy),
        load_scheme("apg-starter"),
        policy,
        data_dir,
        inpatient,
    )
    write_grouped_visits(folder / "grouped-visits.csv", result.grouped)
    result.statements.write(folder)
    return result
