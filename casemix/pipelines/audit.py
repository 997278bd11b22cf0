"""Audit grouped cases under a policy: standards learned from history, flags sorted by score.

A file whose stays carry a pooling area (a ``pooling_area`` column: a province's stays) is audited area by area:
each pooling area (统筹区) audits its own hospitals against norms and level peers of its own
(:mod:`casemix.spark.audit` says why), and ``--engine spark`` does the same.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from casemix.audit import Auditor, ClaimAuditor, Flag
from casemix.audit.item_batch import check_batch, facts_frame, fee_frame
from casemix.audit.item_rules import ClaimFacts, ItemFinding, ItemLibrary
from casemix.grouping import GroupedCase, Grouper
from casemix.pipelines.grouped import Progress, group_cases
from casemix.policy import Policy
from casemix.records import Case, Rejection, RowReader
from casemix.records.fees import read_fee_lines
from casemix.records.io import read_cases, read_table
from casemix.records.outpatient import OutpatientVisit


def audit_grouped(grouped: list[GroupedCase], policy: Policy, grouper: Grouper,
                  history: list[GroupedCase] | None = None,
                  visits: list[OutpatientVisit] | None = None) -> list[Flag]:
    """Every flag on ``grouped`` under ``policy.audit``, DRG standards learned from ``history`` (default:
    the cases themselves), highest score first."""
    auditor = Auditor.learned(policy, grouper.scheme, history or grouped)
    return sorted(auditor.audit(grouped, visits or []), key=lambda f: (-f.score, f.rule, f.case_ids))


AREA = "pooling_area"
"""The column naming a stay's pooling area (统筹区); a file with it is audited area by area."""


def no_area(row: int, case_id: str) -> Rejection:
    """The rejection of a province's stay whose pooling area is blank."""
    return Rejection(row, case_id, AREA, "no pooling area (统筹区) given: a province's stays are audited per "
                                         "pooling area")


@dataclass(frozen=True)
class AreaStays:
    """A file's stays grouped, in row order, each with its pooling area (None for all when the file has no
    ``pooling_area`` column), and the rows rejected (rows in = stays + rejections)."""

    stays: list[GroupedCase]
    areas: list[str | None]
    rejections: list[Rejection]

    def of(self, area: str | None) -> list[GroupedCase]:
        """The stays of one area, in row order; every stay when the file has no areas."""
        return [stay for stay, own in zip(self.stays, self.areas, strict=True) if own == area or own is None]

    @property
    def names(self) -> list[str | None]:
        """The areas, sorted by name (``[None]`` without areas, or with no stay at all)."""
        return sorted(set(self.areas), key=lambda area: area or "") or [None]


def read_by_area(path: str | Path, grouper: Grouper, progress: Progress | None = None) -> AreaStays:
    """Read ``path`` and group its cases, each with its pooling area; a case with a blank area in a file that
    has the column is rejected naming its record and the field. (:func:`~casemix.records.io.read_rows` with the
    area cell beside each row: ``read_table`` gives cells as text or None.)"""
    table = read_table(path)
    reader, column = RowReader(table.headers), table.headers.index(AREA) if AREA in table.headers else None
    cases: list[Case] = []
    areas: list[str | None] = []
    rejections: list[Rejection] = []
    for number, row in enumerate(table.rows, 1):
        parsed = reader.read(row, number)
        area = None if column is None else ((row[column] if column < len(row) else None) or "").strip()
        if isinstance(parsed, Case) and area == "":
            parsed = no_area(number, parsed.id)
        if isinstance(parsed, Rejection):
            rejections.append(parsed)
        else:
            cases.append(parsed)
            areas.append(area)
    return AreaStays(group_cases(grouper, cases, progress), areas, rejections)


def audit_by_area(read: AreaStays, policy: Policy, grouper: Grouper, history: AreaStays | None = None,
                  visits: list[OutpatientVisit] | None = None) -> dict[str | None, list[Flag]]:
    """Each pooling area's flags (:func:`audit_grouped` over its stays alone), areas by name; norms learned from
    the history's stays of the same area (a history without areas serves every area; an area the history does
    not hold learns from its own stays). Without areas: one entry, None, the whole file."""
    return {area: audit_grouped(read.of(area), policy, grouper, _history_of(history, area), visits)
            for area in read.names}


def _history_of(history: AreaStays | None, area: str | None) -> list[GroupedCase] | None:
    if history is None:
        return None
    if area is None or None in history.areas:       # stays or history without areas: the whole history
        return history.stays
    return history.of(area)


def claim_auditor(history: list[GroupedCase], policy: Policy, grouper: Grouper, data_dir: str | Path,
                  bureau_rules: str | Path | None = None) -> ClaimAuditor:
    """What audits one claim at submission time: norms learned from ``history``, the 两库 library of the
    data directory (plus a bureau's own rows) and the fee classifier."""
    return ClaimAuditor.load(Auditor.learned(policy, grouper.scheme, history), data_dir, bureau_rules)


@dataclass(frozen=True)
class ItemAudit:
    """The 两库 findings of a file of fee lines, by stay (visit id), with what was read."""

    findings: dict[str, list[ItemFinding]]
    hospitals: dict[str, str | None]        # stay → its hospital, from the case file
    lines: int                              # fee lines read
    rejections: list[Rejection]             # fee lines rejected, each naming its row and field
    without_facts: int                      # stays with lines but no single case in the case file


def audit_fee_lines(cases: str | Path, fees: str | Path, policy: Policy, data_dir: str | Path,
                    bureau_rules: str | Path | None = None) -> ItemAudit:
    """Every 两库 finding of every stay in the fee-line file ``fees`` at once (``check_batch``, in columns):
    each stay's facts (sex, age, inpatient, hospital level) from the case in ``cases`` whose id is the
    lines' visit id (就诊ID = 病案号). A visit id naming no case, or more than one, is checked with no facts
    known, and counted."""
    read, _ = read_cases(cases)
    named = Counter(case.id for case in read)
    facts = {case.id: ClaimFacts(case.sex, case.age, case.age_days, "inpatient", None, case.hospital_level)
             for case in read if named[case.id] == 1}
    lines, rejections = read_fee_lines(fees)
    library = ItemLibrary.load(data_dir, bureau_rules)
    found = check_batch(library, fee_frame(lines), facts_frame(facts), policy.audit)
    hospitals = {case.id: case.hospital_id for case in read if named[case.id] == 1}
    return ItemAudit(found, hospitals, len(lines), rejections, len({x.visit_id for x in lines} - set(facts)))
